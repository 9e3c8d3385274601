import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SerialLogReadOptions {
  /** Only the last N lines of what is there now. */
  tail?: number;
  /** Keep reading as the guest writes, until the log is removed (the VM ended) or `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
}

const CHUNK = 64 * 1024;
const POLL_MS = 200;
/** How far back a tail looks; a console line is far shorter, and this bounds the read. */
const TAIL_WINDOW = 4 * 1024 * 1024;

/** A guest's serial console log as chunks of bytes: all of it, its tail, and optionally what follows. */
export async function* readSerialLog(path: string, options: SerialLogReadOptions = {}): AsyncGenerator<Buffer> {
  const { tail, follow = false, signal } = options;
  const file = await open(path, 'r').catch(() => null);
  if (!file) return;
  try {
    let position = 0;
    if (tail !== undefined) {
      const { size } = await file.stat();
      const start = Math.max(0, size - TAIL_WINDOW);
      const window = Buffer.alloc(size - start);
      await file.read(window, 0, window.length, start);
      const kept = lastLines(window, tail);
      position = size;
      if (kept.length > 0) yield kept;
    }
    const buffer = Buffer.alloc(CHUNK);
    while (!signal?.aborted) {
      const { bytesRead } = await file.read(buffer, 0, CHUNK, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield Buffer.from(buffer.subarray(0, bytesRead));
        continue;
      }
      if (!follow) return;
      // The driver removes the log when the VM's files are cleaned up: the run is over.
      if (!(await stat(path).then(() => true, () => false))) return;
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await file.close();
  }
}

function lastLines(text: Buffer, count: number): Buffer {
  if (count === 0) return Buffer.alloc(0);
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end -= 1;
  let start = end;
  for (let found = 0; start > 0; ) {
    if (text[start - 1] === 0x0a && ++found === count) break;
    start -= 1;
  }
  return text.subarray(start);
}
