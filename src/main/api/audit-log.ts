import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AuditEntry {
  requestId: string;
  transport: 'unix' | 'tcp';
  remote: string | null;
  method: string;
  url: string;
  status: number;
  outcome: 'allowed' | 'denied';
}

/**
 * Who changed what, and every refused request: one JSON line each, appended to a 0600
 * file. It is the only place a request without a valid token leaves a trace.
 */
export class AuditLog {
  private ready: Promise<unknown> | null = null;
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  record(entry: AuditEntry): Promise<void> {
    this.ready ??= mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const line = `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`;
    // Appends are chained so lines never interleave and their order is the requests' order.
    this.tail = this.tail
      .then(() => this.ready)
      .then(() => appendFile(this.path, line, { mode: 0o600 }))
      .catch(() => undefined);
    return this.tail;
  }
}
