import type { BuildProgress } from '../core/build/progress.js';
import { formatBytes } from './table-output.js';

const BAR_WIDTH = 24;

function bar(fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
}

function percent(fraction: number | undefined): string {
  return fraction === undefined ? '' : `${Math.round(fraction * 100)}%`.padStart(4);
}

/**
 * Shows build progress on a terminal as one redrawn bar, or as plain lines when output
 * is a pipe or a CI log, where redraws would be noise.
 */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: BuildProgress) => void {
  let lastLine = '';
  return (event) => {
    const pct = percent(event.fraction);
    if (stream.isTTY) {
      stream.write(`\r\x1b[2K${bar(event.fraction ?? 0)} ${pct} ${event.message}`);
      if (event.fraction === 1) stream.write('\n');
      return;
    }
    const line = `${pct} ${event.message}`.trim();
    if (line !== lastLine) stream.write(`${line}\n`);
    lastLine = line;
  };
}

export interface TransferProgress {
  update(bytes: number): void;
  /** Draws the full bar and ends its line. */
  done(): void;
  /** Ends the bar's line as it is, so an error message starts on a line of its own. */
  abandon(): void;
}

/**
 * A redrawn bar for a byte transfer of known size, on a terminal only: copies into
 * pipes and logs stay silent. Redraws at most ten times a second.
 */
export function transferProgress(label: string, totalBytes: number, stream: NodeJS.WriteStream = process.stderr): TransferProgress {
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined, abandon: () => undefined };
  let lastDraw = 0;
  const started = Date.now();
  const draw = (bytes: number) => {
    const fraction = totalBytes === 0 ? 1 : bytes / totalBytes;
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? ` ${formatBytes(bytes / seconds)}/s` : '';
    stream.write(`\r\x1b[2K${bar(fraction)} ${percent(fraction)} ${formatBytes(bytes)}/${formatBytes(totalBytes)}${rate} ${label}`);
  };
  let current = 0;
  return {
    update(bytes) {
      current = bytes;
      const now = Date.now();
      if (now - lastDraw < 100) return;
      lastDraw = now;
      draw(bytes);
    },
    done() {
      draw(Math.max(current, totalBytes));
      stream.write('\n');
    },
    abandon() {
      stream.write('\n');
    },
  };
}
