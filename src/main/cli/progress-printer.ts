import type { BuildProgress } from '../core/build/progress.js';

/**
 * Shows build progress on a terminal as one redrawn bar, or as plain lines when output
 * is a pipe or a CI log, where redraws would be noise.
 */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: BuildProgress) => void {
  let lastLine = '';
  return (event) => {
    const pct = event.fraction === undefined ? '' : `${Math.round(event.fraction * 100)}%`.padStart(4);
    if (stream.isTTY) {
      const width = 24;
      const filled = Math.round((event.fraction ?? 0) * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      stream.write(`\r\x1b[2K${bar} ${pct} ${event.message}`);
      if (event.fraction === 1) stream.write('\n');
      return;
    }
    const line = `${pct} ${event.message}`.trim();
    if (line !== lastLine) stream.write(`${line}\n`);
    lastLine = line;
  };
}
