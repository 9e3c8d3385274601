import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { NetHelperError, type HelperCaller } from './helper-arguments.js';

export const DEFAULT_AUDIT_LOG = '/var/log/microvm-sandbox/net-helper.log';

/**
 * Where calls are recorded. MICROVM_NET_HELPER_AUDIT moves it for tests and root's own
 * runs; through pkexec (PKEXEC_UID set) it is ignored, so a caller cannot hide its calls.
 */
export function auditLogPath(env: NodeJS.ProcessEnv): string {
  const override = env.MICROVM_NET_HELPER_AUDIT;
  return env.PKEXEC_UID === undefined && override ? override : DEFAULT_AUDIT_LOG;
}

export interface AuditEntry {
  verb: string;
  args: readonly string[];
  caller: HelperCaller;
  outcome: 'ok' | 'refused' | 'failed' | 'missing_tool';
  message?: string;
}

/**
 * The audit log, opened before the call does anything: a call that cannot be recorded is
 * not carried out. One JSON line per call, written once its outcome is known.
 */
export class AuditLog {
  private constructor(private readonly fd: number) {}

  static open(path: string): AuditLog {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      return new AuditLog(openSync(path, 'a', 0o640));
    } catch (error) {
      throw new NetHelperError('failed', `cannot write the audit log ${path}: ${(error as Error).message}`);
    }
  }

  record(entry: AuditEntry): void {
    const line = {
      time: new Date().toISOString(),
      pid: process.pid,
      verb: entry.verb.slice(0, 64),
      // Capped so that a hostile call cannot grow one line without bound.
      args: entry.args.slice(0, 64).map((arg) => arg.slice(0, 256)),
      via: entry.caller.via,
      uid: entry.caller.uid,
      outcome: entry.outcome,
      ...(entry.message === undefined ? {} : { message: entry.message }),
    };
    try {
      writeSync(this.fd, `${JSON.stringify(line)}\n`);
    } finally {
      closeSync(this.fd);
    }
  }
}
