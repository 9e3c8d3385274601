/** Request and result shapes of the guest agent's operations (docs/agent-protocol.md §5). */

export interface AgentInfo {
  agentVersion: string;
  protocol: number;
  os: string;
  arch: string;
  kernel: string;
  hostname: string;
  mode: 'init' | 'service' | 'host';
  pid: number;
  uptimeMs: number;
  bootToReadyMs: number | null;
}

export interface FileInfo {
  name: string;
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  /** Permission bits. */
  mode: number;
  mtimeMs: number;
  linkTarget?: string;
}

export interface MkdirOptions {
  parents?: boolean;
  mode?: number;
}

export interface RemoveOptions {
  recursive?: boolean;
}

export interface NetConfigureRequest {
  address: string;
  gateway: string;
  dns: string;
  mac?: string;
}

export interface NetConfigureResult {
  /** The guest's name for the NIC, e.g. eth0. */
  interface: string;
}

export interface TimeSetResult {
  previousUnixMs: number;
  unixMs: number;
}

export type PowerAction = 'poweroff' | 'reboot';

export interface ExecRequest {
  argv?: string[];
  /** Run as `/bin/sh -c <shell>`; exactly one of argv and shell. */
  shell?: string;
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  timeoutMs?: number;
  /** Without it the process reads /dev/null and `ExecProcess.stdin` is null. */
  stdin?: boolean;
  pty?: { rows: number; cols: number };
}

export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
}

export interface RunResult extends ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  /** Output beyond maxOutputBytes was drained and dropped (on either stream). */
  truncated: boolean;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export interface WriteFileOptions {
  mode?: number;
  mkdirs?: boolean;
  atomic?: boolean;
}

export interface WriteFileResult {
  size: number;
  sha256: string;
}

export interface ReadFileOptions {
  offset?: number;
  length?: number;
}

export interface CallOptions {
  /** Aborting sends CANCEL and rejects the call with SandboxError('cancelled'). */
  signal?: AbortSignal;
}
