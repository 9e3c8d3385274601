import { readFile } from 'node:fs/promises';

export interface VmmUsage {
  /** Resident memory of the VMM process (guest RAM it has touched plus its own). */
  rssBytes: number;
  /** User plus system CPU time the VMM process has used. */
  cpuSeconds: number;
}

const PAGE_SIZE = 4096;
const CLOCK_TICKS = 100;

/** What a VMM process costs the host right now, from /proc; null when it is gone. */
export async function vmmUsage(pid: number): Promise<VmmUsage | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // Fields after the parenthesised command name, which may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { rssBytes: rssPages * PAGE_SIZE, cpuSeconds: (utime + stime) / CLOCK_TICKS };
}
