import type { AgentClient } from '../core/agent/agent-client.js';

/**
 * Connects this terminal to a PTY exec in the guest: raw mode in, output out, and the
 * guest's window size following the local one.
 */
export async function attachTerminal(agent: AgentClient, argv: string[]): Promise<number | null> {
  const size = () => ({ rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 });
  const proc = agent.exec({ argv, pty: size(), stdin: true });
  const onResize = () => {
    const { rows, cols } = size();
    void proc.resize(rows, cols).catch(() => undefined);
  };
  process.stdin.setRawMode(true);
  process.stdin.resume();
  if (proc.stdin) process.stdin.pipe(proc.stdin);
  proc.stdout.pipe(process.stdout, { end: false });
  process.stdout.on('resize', onResize);
  try {
    const result = await proc.result;
    return result.exitCode;
  } finally {
    process.stdout.off('resize', onResize);
    if (proc.stdin) process.stdin.unpipe(proc.stdin);
    process.stdin.setRawMode(false);
    process.stdin.pause();
  }
}
