import { readdir, readFile } from 'node:fs/promises';

/** MemAvailable from /proc/meminfo: what the host can give a new VM without swapping. */
export async function hostMemAvailableMiB(): Promise<number> {
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const kb = Number(/^MemAvailable:\s+(\d+)\s+kB$/m.exec(meminfo)?.[1] ?? NaN);
  return Math.floor(kb / 1024);
}

/** Processes whose command line mentions `needle`: how orphaned VMMs are found. */
export async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}
