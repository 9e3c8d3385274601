import constants from '../../../../guest-agent/protocol/constants.json' with { type: 'json' };
import { SandboxError } from '../errors/sandbox-error.js';

/** The protocol's constants, read from the one file the Go agent embeds too. */
export const agentProtocol = constants;

export const FrameType = constants.frameTypes;
export const Channel = constants.channels;

export const PREAMBLE = Buffer.from(constants.preamble, 'ascii');
const HEADER_SIZE = constants.headerSize;
const knownTypes = new Set<number>(Object.values(constants.frameTypes));

export interface Frame {
  type: number;
  channel: number;
  stream: number;
  payload: Buffer;
}

export interface FrameHeader {
  length: number;
  type: number;
  channel: number;
  reserved: number;
  stream: number;
}

export function encodeFrame(frame: Frame): Buffer {
  if (frame.payload.length > constants.maxFrame) {
    throw new SandboxError('agent_protocol', `frame payload of ${frame.payload.length} bytes exceeds maxFrame`);
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + frame.payload.length);
  out.writeUInt32BE(frame.payload.length, 0);
  out.writeUInt8(frame.type, 4);
  out.writeUInt8(frame.channel, 5);
  out.writeUInt16BE(0, 6);
  out.writeUInt32BE(frame.stream, 8);
  frame.payload.copy(out, HEADER_SIZE);
  return out;
}

export function decodeHeader(bytes: Buffer): FrameHeader {
  return {
    length: bytes.readUInt32BE(0),
    type: bytes.readUInt8(4),
    channel: bytes.readUInt8(5),
    reserved: bytes.readUInt16BE(6),
    stream: bytes.readUInt32BE(8),
  };
}

/** Why a header cannot start a frame, as the spec's session error code; null if it can. */
export function headerProblem(header: FrameHeader): 'frame_too_large' | 'bad_frame' | null {
  if (header.length > constants.maxFrame) return 'frame_too_large';
  if (header.reserved !== 0 || !knownTypes.has(header.type)) return 'bad_frame';
  return null;
}

export function encodeJson(type: number, stream: number, value: unknown): Buffer {
  return encodeFrame({ type, channel: 0, stream, payload: Buffer.from(JSON.stringify(value)) });
}

export function encodeWindow(stream: number, channel: number, credit: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(credit, 0);
  return encodeFrame({ type: FrameType.WINDOW, channel, stream, payload });
}

/** The client's greeting: preamble and HELLO in one write, so they cannot be split by other frames. */
export function encodeGreeting(nonce: string, client: string): Buffer {
  const hello = encodeJson(FrameType.HELLO, 0, { versions: [constants.version], client, nonce });
  return Buffer.concat([PREAMBLE, hello]);
}

export interface AgentHello {
  version: number;
  agent: string;
  nonce: string;
  window: number;
  maxFrame: number;
  maxData: number;
  ops: string[];
}

/**
 * Splits the agent's byte stream into frames. It starts by searching: everything is
 * discarded until the preamble followed by a HELLO that echoes the awaited nonce, so
 * leftovers of an earlier session (half-sent frames, stale HELLO replies) are skipped.
 * After that HELLO it frames; a framing error there is thrown as a SandboxError.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private nonce: string | null = null;

  constructor(private readonly onFrame: (frame: Frame) => void) {}

  /** Starts (or restarts) the search for the agent's HELLO carrying this nonce. */
  awaitHello(nonce: string): void {
    this.nonce = nonce;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      const progressed = this.nonce !== null ? this.search() : this.frame();
      if (!progressed) return;
    }
  }

  private search(): boolean {
    const bytes = this.flatten();
    const at = bytes.indexOf(PREAMBLE);
    if (at < 0) {
      // Keep a tail that may be the start of a preamble split across chunks.
      this.consume(Math.max(0, bytes.length - (PREAMBLE.length - 1)));
      return false;
    }
    this.consume(at);
    const start = PREAMBLE.length;
    if (this.buffered < start + HEADER_SIZE) return false;
    const header = decodeHeader(bytes.subarray(at + start, at + start + HEADER_SIZE));
    const plausible =
      header.type === FrameType.HELLO && header.stream === 0 && header.channel === 0 && headerProblem(header) === null;
    if (!plausible) {
      this.consume(1);
      return true;
    }
    const end = start + HEADER_SIZE + header.length;
    if (this.buffered < end) return false;
    const payload = Buffer.from(bytes.subarray(at + start + HEADER_SIZE, at + end));
    const hello = parseHello(payload);
    if (hello === null) {
      this.consume(1);
      return true;
    }
    this.consume(end);
    if (hello.nonce !== this.nonce) return true;
    this.nonce = null;
    this.onFrame({ type: header.type, channel: 0, stream: 0, payload });
    return true;
  }

  private frame(): boolean {
    if (this.buffered < HEADER_SIZE) return false;
    // A preamble can never be a header (its first four bytes are far beyond maxFrame),
    // so one where a header belongs is only a marker to step over.
    if (this.peek(PREAMBLE.length).equals(PREAMBLE)) {
      this.consume(PREAMBLE.length);
      return true;
    }
    const header = decodeHeader(this.peek(HEADER_SIZE));
    const problem = headerProblem(header);
    if (problem !== null) {
      throw new SandboxError('agent_protocol', `the agent sent a bad frame header (${problem}): ${this.peek(HEADER_SIZE).toString('hex')}`);
    }
    if (this.buffered < HEADER_SIZE + header.length) return false;
    this.consume(HEADER_SIZE);
    const payload = this.take(header.length);
    this.onFrame({ type: header.type, channel: header.channel, stream: header.stream, payload });
    return true;
  }

  private flatten(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    return this.flatten().subarray(0, n);
  }

  private take(n: number): Buffer {
    const bytes = this.peek(n);
    this.consume(n);
    return bytes;
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

function parseHello(payload: Buffer): AgentHello | null {
  try {
    const value = JSON.parse(payload.toString('utf8')) as Partial<AgentHello> | null;
    if (value === null || typeof value !== 'object' || typeof value.nonce !== 'string') return null;
    return value as AgentHello;
  } catch {
    return null;
  }
}

export function decodeHello(payload: Buffer): AgentHello {
  const hello = parseHello(payload);
  if (hello === null) throw new SandboxError('agent_protocol', 'the agent sent an unreadable HELLO');
  return hello;
}
