import { describe, expect, it } from 'vitest';
import constants from '../../guest-agent/protocol/constants.json' with { type: 'json' };
import {
  FrameReader,
  FrameType,
  PREAMBLE,
  decodeHeader,
  encodeFrame,
  encodeGreeting,
  encodeJson,
  headerProblem,
  type Frame,
} from '../../src/main/core/agent/agent-frames.js';

function agentHello(nonce: string): Buffer {
  return Buffer.concat([
    PREAMBLE,
    encodeJson(FrameType.HELLO, 0, { version: 1, agent: 'test', nonce, window: 262144, maxFrame: 1048576, maxData: 65536, ops: [] }),
  ]);
}

function collect(): { reader: FrameReader; frames: Frame[] } {
  const frames: Frame[] = [];
  return { reader: new FrameReader((frame) => frames.push(frame)), frames };
}

describe('frame codec', () => {
  it('writes the 12-byte big-endian header of the spec', () => {
    const frame = encodeFrame({ type: FrameType.DATA, channel: 1, stream: 0x01020304, payload: Buffer.from('abc') });
    expect(frame.subarray(0, 12).toString('hex')).toBe('00000003' + '03' + '01' + '0000' + '01020304');
    expect(frame.subarray(12).toString()).toBe('abc');
    expect(decodeHeader(frame)).toEqual({ length: 3, type: 3, channel: 1, reserved: 0, stream: 0x01020304 });
  });

  it('takes its constants from constants.json', () => {
    expect(PREAMBLE.toString('ascii')).toBe(constants.preamble);
    expect(FrameType).toEqual(constants.frameTypes);
  });

  it('refuses to encode a payload beyond maxFrame', () => {
    expect(() => encodeFrame({ type: FrameType.DATA, channel: 0, stream: 1, payload: Buffer.alloc(constants.maxFrame + 1) })).toThrow(
      /maxFrame/,
    );
  });

  it('classifies bad headers with the session error codes', () => {
    const header = { length: 0, type: FrameType.PING, channel: 0, reserved: 0, stream: 0 };
    expect(headerProblem(header)).toBeNull();
    expect(headerProblem({ ...header, length: constants.maxFrame + 1 })).toBe('frame_too_large');
    expect(headerProblem({ ...header, reserved: 1 })).toBe('bad_frame');
    expect(headerProblem({ ...header, type: 0x33 })).toBe('bad_frame');
    // The spec's promise: a preamble read where a header was expected is always too large.
    expect(headerProblem(decodeHeader(Buffer.concat([PREAMBLE, Buffer.alloc(4)])))).toBe('frame_too_large');
  });

  it('greets with the preamble and a HELLO listing the protocol version and the nonce', () => {
    const greeting = encodeGreeting('abcd', 'microvm-host/test');
    expect(greeting.subarray(0, 8).equals(PREAMBLE)).toBe(true);
    const header = decodeHeader(greeting.subarray(8));
    expect(header.type).toBe(FrameType.HELLO);
    expect(JSON.parse(greeting.subarray(20).toString())).toEqual({ versions: [constants.version], client: 'microvm-host/test', nonce: 'abcd' });
  });
});

describe('FrameReader', () => {
  it('discards garbage before the preamble and frames after the HELLO', () => {
    const { reader, frames } = collect();
    reader.awaitHello('n1');
    const data = encodeFrame({ type: FrameType.DATA, channel: 0, stream: 7, payload: Buffer.from('hello') });
    reader.push(Buffer.concat([Buffer.from('garbage MVMAGEN\x00\xff'), agentHello('n1'), data]));
    expect(frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.DATA]);
    expect(JSON.parse(frames[0]!.payload.toString()).nonce).toBe('n1');
    expect(frames[1]!.stream).toBe(7);
    expect(frames[1]!.payload.toString()).toBe('hello');
  });

  it('ignores a stale HELLO with another nonce, and the frames of its session', () => {
    const { reader, frames } = collect();
    reader.awaitHello('fresh');
    const staleData = encodeFrame({ type: FrameType.DATA, channel: 0, stream: 1, payload: Buffer.from('old') });
    reader.push(Buffer.concat([agentHello('stale'), staleData, agentHello('fresh')]));
    expect(frames).toHaveLength(1);
    expect(JSON.parse(frames[0]!.payload.toString()).nonce).toBe('fresh');
  });

  it('finds a preamble and frames split across arbitrary chunk boundaries', () => {
    const { reader, frames } = collect();
    reader.awaitHello('split');
    const payload = Buffer.alloc(100_000, 7);
    const bytes = Buffer.concat([
      Buffer.from('xxMVMAGxx'),
      agentHello('split'),
      encodeFrame({ type: FrameType.DATA, channel: 1, stream: 3, payload }),
      encodeFrame({ type: FrameType.EOF, channel: 1, stream: 3, payload: Buffer.alloc(0) }),
    ]);
    for (let i = 0; i < bytes.length; i += 3) reader.push(bytes.subarray(i, Math.min(bytes.length, i + 3)));
    expect(frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.DATA, FrameType.EOF]);
    expect(frames[1]!.payload.equals(payload)).toBe(true);
    expect(frames[1]!.channel).toBe(1);
  });

  it('skips a preamble that is not followed by a HELLO', () => {
    const { reader, frames } = collect();
    reader.awaitHello('n');
    const notHello = encodeFrame({ type: FrameType.ERROR, channel: 0, stream: 0, payload: Buffer.from('{}') });
    reader.push(Buffer.concat([PREAMBLE, notHello, agentHello('n')]));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.type).toBe(FrameType.HELLO);
  });

  it('only accepts the nonce it awaits now', () => {
    const { reader, frames } = collect();
    reader.awaitHello('first');
    reader.awaitHello('second');
    reader.push(agentHello('first'));
    expect(frames).toHaveLength(0);
    reader.push(agentHello('second'));
    expect(frames).toHaveLength(1);
  });

  it('steps over a preamble where a header belongs', () => {
    const { reader, frames } = collect();
    reader.awaitHello('n');
    const error = encodeJson(FrameType.ERROR, 0, { code: 'bad_frame', message: 'x' });
    reader.push(Buffer.concat([agentHello('n'), PREAMBLE, error]));
    expect(frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.ERROR]);
  });

  it('throws on a bad header once framing', () => {
    const { reader } = collect();
    reader.awaitHello('n');
    reader.push(agentHello('n'));
    const huge = Buffer.alloc(12);
    huge.writeUInt32BE(0x80000000, 0);
    huge.writeUInt8(FrameType.DATA, 4);
    expect(() => reader.push(huge)).toThrow(/frame_too_large/);
  });

  it('throws on non-zero reserved bits and unknown types', () => {
    for (const patch of [(b: Buffer) => b.writeUInt16BE(1, 6), (b: Buffer) => b.writeUInt8(0x42, 4)]) {
      const { reader } = collect();
      reader.awaitHello('n');
      reader.push(agentHello('n'));
      const frame = encodeFrame({ type: FrameType.PONG, channel: 0, stream: 0, payload: Buffer.alloc(0) });
      patch(frame);
      expect(() => reader.push(frame)).toThrow(/bad_frame/);
    }
  });
});
