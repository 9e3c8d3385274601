import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxStore } from '../../../src/main/core/store/sandbox-store.js';

const child = fileURLToPath(new URL('./store-writer-child.ts', import.meta.url));

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-store-crash-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the writer, lets it commit at least `minCommits` sandboxes, SIGKILLs it, and returns the ids it reported. */
function writeUntilKilled(dbPath: string, prefix: string, minCommits: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dbPath, prefix], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const committed: string[] = [];
    let partial = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      committed.push(...lines);
      if (committed.length >= minCommits && !proc.killed) proc.kill('SIGKILL');
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    proc.on('error', reject);
    proc.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve(committed);
      else reject(new Error(`writer exited on its own: ${stderr}`));
    });
  });
}

describe('SandboxStore under kill -9', () => {
  it('loses nothing committed and stays consistent', async () => {
    const dbPath = join(dir, 'microvm.db');
    const reported: string[] = [];
    // Several rounds so the kill lands at different points of a write, and later rounds
    // start on a database (and WAL) that a killed process left behind.
    for (const [round, minCommits] of [25, 60, 140].entries()) {
      reported.push(...(await writeUntilKilled(dbPath, `r${round}`, minCommits)));
    }

    const raw = new Database(dbPath);
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(raw.pragma('foreign_key_check')).toEqual([]);
    } finally {
      raw.close();
    }

    const store = SandboxStore.open(dbPath);
    try {
      const byId = new Map(store.list().map((r) => [r.id, r]));
      for (const id of reported) {
        expect(byId.get(id)?.state, id).toBe('crashed');
      }
      // A row the kill caught between insert and transition is a committed 'creating'
      // row; whatever exists, its events agree with its state.
      for (const record of byId.values()) {
        const events = store.events(record.id);
        const last = events.at(-1);
        expect(last && (last.kind === 'created' ? last.data.state : last.data.to), record.id).toBe(record.state);
      }
      store.insert({ id: 'after', name: 'after', template: 'minimal', hypervisor: 'qemu', vcpus: 1, memoryMiB: 256 });
    } finally {
      store.close();
    }
  });
});
