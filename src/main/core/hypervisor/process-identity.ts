import { readFile } from 'node:fs/promises';

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/PID/stat). A pid
 * alone can be reused after the process exits; pid + start time names one process.
 * Null when the process does not exist.
 */
export async function readPidStartTicks(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** Whether pid still names the process that had this start time. */
export async function isSameProcess(pid: number, startTicks: number): Promise<boolean> {
  return (await readPidStartTicks(pid)) === startTicks;
}

/**
 * Resolves when the process is gone. For processes that are not our children (adopted
 * after a daemon restart) there is no exit event, so the pid is polled; 250 ms keeps a
 * crash noticed well within a second.
 */
export function waitForProcessExit(pid: number, startTicks: number, intervalMs = 250): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      void isSameProcess(pid, startTicks).then((same) => {
        if (!same) {
          clearInterval(timer);
          resolve();
        }
      });
    }, intervalMs);
  });
}
