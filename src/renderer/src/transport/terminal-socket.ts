import { ExecChannel } from '../../../shared/api/exec-channels';
import type { ExecClientMessage, ExecServerMessage, ExecStartMessage } from '../../../shared/api/exec-schemas';
import { AppError, type TerminalEvent, type TerminalOptions, type TerminalSession } from '../../../shared/app-contract';
import { segment, type DaemonHttp } from './daemon-http';

/** After close() asks the guest to end the process, how long the daemon gets to report its exit. */
const CLOSE_GRACE_MS = 5000;
const MAX_TERMINAL_SIZE = 1000;
/** A large paste goes in pieces, well under the daemon's 4 MiB WebSocket message limit. */
const STDIN_FRAME_BYTES = 256 * 1024;
/** What every template has; the guest agent sets TERM for a pty. */
const LOGIN_SHELL = ['/bin/sh', '-l'];

/**
 * An interactive process on a pseudo-terminal over the exec WebSocket (protocol in
 * src/shared/api/exec-schemas.ts). Usable at once: what is written before the socket opens
 * is sent after the start message. Ends with exactly one exit or error event.
 */
export function openTerminalSocket(http: DaemonHttp, id: string, options: TerminalOptions, onEvent: (event: TerminalEvent) => void): TerminalSession {
  const path = `/sandboxes/${segment(id)}/exec/ws`;
  const socket = new WebSocket(http.socketUrl(path));
  socket.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  const waiting: Array<string | Uint8Array> = [];
  let ended = false;
  let exit: Extract<ExecServerMessage, { type: 'exit' }> | undefined;
  let failure: Extract<ExecServerMessage, { type: 'error' }> | undefined;
  let closeRequested = false;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;

  const finish = (event: TerminalEvent) => {
    if (ended) return;
    ended = true;
    clearTimeout(graceTimer);
    onEvent(event);
  };
  const send = (message: string | Uint8Array) => {
    if (ended || closeRequested) return;
    if (socket.readyState === WebSocket.OPEN) socket.send(message);
    else if (socket.readyState === WebSocket.CONNECTING) waiting.push(message);
  };
  const control = (message: ExecClientMessage) => send(JSON.stringify(message));

  let opened = false;
  socket.onopen = () => {
    opened = true;
    const start: ExecStartMessage = {
      type: 'start',
      argv: options.argv ?? LOGIN_SHELL,
      stdin: true,
      pty: { rows: options.rows, cols: options.cols },
    };
    socket.send(JSON.stringify(start));
    // The daemon holds what follows the start message until the process runs.
    for (const message of waiting.splice(0)) socket.send(message);
  };
  socket.onmessage = (message: MessageEvent<ArrayBuffer | string>) => {
    if (typeof message.data !== 'string') {
      const bytes = new Uint8Array(message.data);
      if (bytes[0] === ExecChannel.stdout || bytes[0] === ExecChannel.stderr) onEvent({ type: 'output', data: bytes.subarray(1) });
      return;
    }
    const parsed = JSON.parse(message.data) as ExecServerMessage;
    if (parsed.type === 'exit') exit = parsed;
    else if (parsed.type === 'error') failure = parsed;
  };
  socket.onclose = (event) => {
    if (exit) finish({ type: 'exit', exitCode: exit.exitCode, signal: exit.signal });
    else if (failure) finish({ type: 'error', code: failure.code, message: failure.message });
    else if (closeRequested) finish({ type: 'exit', exitCode: null, signal: null });
    else if (!opened) void refusal(http, path).then((error) => finish({ type: 'error', code: error.code, message: error.message }));
    else finish({ type: 'error', code: 'daemon_unreachable', message: `the terminal connection to ${http.origin} closed (code ${event.code}) before the process exited` });
  };

  return {
    write(data: string) {
      if (data.length === 0) return;
      const bytes = encoder.encode(data);
      for (let offset = 0; offset < bytes.length; offset += STDIN_FRAME_BYTES) {
        const piece = bytes.subarray(offset, offset + STDIN_FRAME_BYTES);
        const frame = new Uint8Array(piece.length + 1);
        frame[0] = ExecChannel.stdin;
        frame.set(piece, 1);
        send(frame);
      }
    },
    resize(cols: number, rows: number) {
      if (!isTerminalSize(cols) || !isTerminalSize(rows)) {
        throw new AppError('invalid_argument', `resize: cols and rows must be integers from 1 to ${MAX_TERMINAL_SIZE} (got ${cols}x${rows})`);
      }
      control({ type: 'resize', rows, cols });
    },
    close() {
      if (ended || closeRequested) return;
      if (socket.readyState === WebSocket.OPEN) {
        control({ type: 'kill' });
        closeRequested = true;
        // The daemon answers a kill with the exit and closes; a daemon that does not is not waited for.
        graceTimer = setTimeout(() => socket.close(), CLOSE_GRACE_MS);
      } else {
        closeRequested = true;
        socket.close();
      }
    },
  };
}

function isTerminalSize(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= MAX_TERMINAL_SIZE;
}

/**
 * A browser hides why an upgrade was refused; the same request without the upgrade meets
 * the same checks (unknown or stopped sandbox) and says why in problem+json.
 */
async function refusal(http: DaemonHttp, path: string): Promise<AppError> {
  try {
    await http.send('GET', path);
  } catch (error) {
    const appError = AppError.from(error);
    // invalid_argument is the daemon saying "send an Upgrade": the sandbox was fine, the connection was not.
    if (appError.code !== 'invalid_argument') return appError;
  }
  return new AppError('daemon_unreachable', `the terminal connection to ${http.origin} failed before it opened`);
}
