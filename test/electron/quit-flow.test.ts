import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { MessageBoxOptions } from 'electron';
import { askInMessageBox, installQuitFlow, prepareQuit, type QuitChoice } from '../../src/main/electron/quit-flow.js';
import type { Sandbox } from '../../src/shared/api/sandbox-schemas.js';
import { SANDBOX } from './fake-main-api.js';

const sandboxes: Sandbox[] = [
  { ...SANDBOX, id: 'a', name: 'alpha', state: 'running' },
  { ...SANDBOX, id: 'b', name: 'beta', state: 'paused' },
  { ...SANDBOX, id: 'c', name: 'gamma', state: 'stopped' },
];

/** A fake daemon and dialog: records what the quit flow asked and did, in order. */
function harness(answer: number, list: Sandbox[] = sandboxes) {
  const log: string[] = [];
  const questions: MessageBoxOptions[] = [];
  const ask = askInMessageBox(async (options) => {
    questions.push(options);
    log.push('asked');
    return { response: answer, checkboxChecked: false };
  }, true);
  return {
    log,
    questions,
    options: {
      listSandboxes: async () => list,
      stopSandbox: async (id: string) => log.push(`stop ${id}`),
      ask,
      shutdown: async () => {
        log.push('shutdown');
      },
    },
  };
}

describe('prepareQuit', () => {
  it('asks about running and paused sandboxes, and "Stop them" stops them before the daemon closes', async () => {
    const { log, questions, options } = harness(0);
    expect(await prepareQuit(options)).toBe(true);
    expect(log).toEqual(['asked', 'stop a', 'stop b', 'shutdown']);
    expect(questions[0]).toMatchObject({ buttons: ['Stop them', 'Leave running', 'Cancel'], cancelId: 2, defaultId: 0 });
    expect(questions[0]!.message).toBe('2 sandboxes are still running: alpha, beta');
  });

  it('"Leave running" closes the daemon and leaves the sandboxes alone', async () => {
    const { log, options } = harness(1);
    expect(await prepareQuit(options)).toBe(true);
    expect(log).toEqual(['asked', 'shutdown']);
  });

  it('"Cancel" (or Escape) does not quit and touches nothing', async () => {
    const { log, options } = harness(2);
    expect(await prepareQuit(options)).toBe(false);
    expect(log).toEqual(['asked']);
  });

  it('does not ask when nothing runs, or when the daemon does not answer', async () => {
    const idle = harness(2, [sandboxes[2]!]);
    expect(await prepareQuit(idle.options)).toBe(true);
    expect(idle.log).toEqual(['shutdown']);
    const gone = harness(2);
    expect(await prepareQuit({ ...gone.options, listSandboxes: () => Promise.reject(new Error('daemon_unreachable')) })).toBe(true);
    expect(gone.log).toEqual(['shutdown']);
  });

  it('still quits when stopping a sandbox fails', async () => {
    const { log, options } = harness(0);
    const failing = { ...options, stopSandbox: async (id: string) => (id === 'a' ? Promise.reject(new Error('timeout')) : log.push(`stop ${id}`)) };
    expect(await prepareQuit(failing)).toBe(true);
    expect(log).toEqual(['asked', 'stop b', 'shutdown']);
  });

  it('names a few sandboxes and counts the rest', async () => {
    const many = Array.from({ length: 8 }, (_, i) => ({ ...SANDBOX, id: `s${i}`, name: `box-${i}` }));
    const { questions, options } = harness(2, many);
    await prepareQuit(options);
    expect(questions[0]!.message).toBe('8 sandboxes are still running: box-0, box-1, box-2, box-3, box-4 and 3 more');
  });
});

describe('installQuitFlow', () => {
  /** An app and a window that behave like Electron's for quitting: before-quit can be prevented. */
  function fakeApp() {
    const app = new EventEmitter() as EventEmitter & { quit(): void; quitted: number };
    app.quitted = 0;
    app.quit = () => {
      let prevented = false;
      app.emit('before-quit', { preventDefault: () => (prevented = true) });
      if (!prevented) app.quitted++;
    };
    const window = new EventEmitter();
    const closeWindow = () => {
      let prevented = false;
      window.emit('close', { preventDefault: () => (prevented = true) });
      return !prevented;
    };
    return { app, window, closeWindow };
  }

  async function settle(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }

  const flows: [QuitChoice, number, boolean][] = [
    ['stop', 0, true],
    ['leave', 1, true],
    ['cancel', 2, false],
  ];
  it.each(flows)('closing the window with "%s" quits: %s', async (_choice, answer, quits) => {
    const { app, window, closeWindow } = fakeApp();
    const { log, options } = harness(answer);
    installQuitFlow(app as never, window as never, options);
    // The close is held while the user decides; the app quits (or not) afterwards.
    expect(closeWindow()).toBe(false);
    await settle();
    expect(app.quitted).toBe(quits ? 1 : 0);
    expect(log.includes('shutdown')).toBe(quits);
    if (quits) expect(closeWindow()).toBe(true);
  });

  it('asks once however many times quit is requested while deciding', async () => {
    const { app, window } = fakeApp();
    const { log, options } = harness(1);
    installQuitFlow(app as never, window as never, options);
    app.quit();
    app.quit();
    await settle();
    expect(log).toEqual(['asked', 'shutdown']);
    expect(app.quitted).toBe(1);
  });
});
