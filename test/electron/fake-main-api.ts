import { AppError, type DisplayEvent, type TerminalEvent, type UploadProgress } from '../../src/shared/app-contract.js';
import type { Sandbox } from '../../src/shared/api/sandbox-schemas.js';
import type { HostUploadItem, MainAppApi } from '../../src/shared/ipc-protocol.js';

export const SANDBOX: Sandbox = {
  id: '0b5e6b52-7d1f-4a44-9b1e-3c2b3f0f9a10',
  name: 'alpha',
  template: 'minimal',
  hypervisor: 'qemu',
  vcpus: 1,
  memoryMiB: 256,
  labels: {},
  network: 'none',
  egress: { allow: [], deny: [] },
  state: 'running',
  stateReason: null,
  currentSnapshotId: null,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
};

/** What main's side of the bridge saw: every call with its arguments, and what streams were asked to do. */
export interface FakeRecord {
  calls: [string, unknown[]][];
  terminal: { opened: unknown[]; writes: string[]; resizes: [number, number][]; closed: number };
  watch: { unsubscribed: number };
  console: { unsubscribed: number; end?: (error: { code: string; message: string } | null) => void; data?: (text: string) => void };
  upload: { items: HostUploadItem[]; cancels: (number | undefined)[]; finish?: () => void };
  display: { opened: string[]; sent: Uint8Array[]; closed: number };
}

/**
 * main's AppApi for the wiring tests: answers from fixtures, fails on cue with an AppError
 * (id "missing") or a plain Error (id "broken"), and drives streams the test can observe.
 */
export function fakeMainApi(): { api: MainAppApi; record: FakeRecord } {
  const record: FakeRecord = {
    calls: [],
    terminal: { opened: [], writes: [], resizes: [], closed: 0 },
    watch: { unsubscribed: 0 },
    console: { unsubscribed: 0 },
    upload: { items: [], cancels: [] },
    display: { opened: [], sent: [], closed: 0 },
  };
  const answer =
    <T>(method: string, value: (...args: unknown[]) => T) =>
    async (...args: unknown[]): Promise<T> => {
      record.calls.push([method, args]);
      if (args[0] === 'missing') throw new AppError('not_found', `sandbox "missing" not found`);
      if (args[0] === 'broken') throw new Error('something broke');
      return value(...args);
    };

  const api: MainAppApi = {
    appInfo: answer('appInfo', () => ({ name: 'MicroVM Sandbox', version: '0.1.0', shell: 'electron' as const, daemon: 'unix:/run/test.sock' })),
    system: answer('system', () => ({}) as never),
    templates: answer('templates', () => []),
    listSandboxes: answer('listSandboxes', () => [SANDBOX]),
    createSandbox: answer('createSandbox', () => SANDBOX),
    sandboxAction: answer('sandboxAction', () => ({ ...SANDBOX, state: 'stopped' as const })),
    deleteSandbox: answer('deleteSandbox', () => undefined),
    usage: answer('usage', () => ({ at: 1, sandboxes: [] })),
    listFiles: answer('listFiles', () => []),
    makeDirectory: answer('makeDirectory', () => undefined),
    removePath: answer('removePath', () => undefined),
    downloadFile: answer('downloadFile', () => undefined),
    snapshotTree: answer('snapshotTree', () => ({ sandboxId: SANDBOX.id, current: null, snapshots: [] })),
    takeSnapshot: answer('takeSnapshot', () => ({}) as never),
    restoreSnapshot: answer('restoreSnapshot', () => SANDBOX),
    forkSnapshot: answer('forkSnapshot', () => SANDBOX),
    deleteSnapshot: answer('deleteSnapshot', () => undefined),
    display: answer('display', () => ({ available: false as const, reason: 'this template has no display' })),
    listPorts: answer('listPorts', () => []),
    addPort: answer('addPort', () => ({}) as never),
    removePort: answer('removePort', () => undefined),

    watchEvents(onEvent, onConnection) {
      onConnection?.(true);
      onEvent({ type: 'state', id: SANDBOX.id, name: SANDBOX.name, state: 'running', reason: null, at: 1 });
      return () => record.watch.unsubscribed++;
    },

    openTerminal(id, options, onEvent: (event: TerminalEvent) => void) {
      record.terminal.opened.push([id, options]);
      if (id === 'missing') {
        onEvent({ type: 'error', code: 'not_found', message: 'sandbox "missing" not found' });
      }
      return {
        write(data) {
          record.terminal.writes.push(data);
          onEvent({ type: 'output', data: new TextEncoder().encode(`echo:${data}`) });
        },
        resize(cols, rows) {
          record.terminal.resizes.push([cols, rows]);
        },
        close() {
          record.terminal.closed++;
          onEvent({ type: 'exit', exitCode: 0, signal: null });
        },
      };
    },

    followConsole(_id, onData, onEnd) {
      record.console.data = onData;
      record.console.end = (error) => onEnd?.(error);
      onData('[    0.000000] Linux version 6.1\n');
      return () => record.console.unsubscribed++;
    },

    /** Opens at once and echoes what is sent, as "RFB:" plus the bytes; "missing" ends at once. */
    openDisplay(id, onEvent: (event: DisplayEvent) => void) {
      record.display.opened.push(id);
      if (id === 'missing') onEvent({ type: 'close', code: 1011, reason: '[not_found] sandbox "missing" not found' });
      else onEvent({ type: 'open' });
      return {
        send(data) {
          record.display.sent.push(data);
          onEvent({ type: 'data', data: new Uint8Array([...new TextEncoder().encode('RFB:'), ...data]) });
        },
        close() {
          record.display.closed++;
          onEvent({ type: 'close', code: 1000, reason: 'closed' });
        },
      };
    },

    uploadFiles(_id, _destDir, items, onProgress: (progress: UploadProgress) => void) {
      record.upload.items = items;
      let finish!: () => void;
      const done = new Promise<void>((resolve) => (finish = resolve));
      record.upload.finish = finish;
      items.forEach((item, index) => onProgress({ index, relativePath: item.relativePath, loaded: 0, total: item.size, state: 'queued' }));
      return {
        cancel(index) {
          record.upload.cancels.push(index);
        },
        result: async () => {
          await done;
          return { done: items.length, failed: 0, cancelled: 0 };
        },
      };
    },
  };
  return { api, record };
}
