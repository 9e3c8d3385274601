import type { App, BrowserWindow, MessageBoxOptions, MessageBoxReturnValue } from 'electron';
import type { Sandbox } from '../../shared/api/sandbox-schemas.js';

export type QuitChoice = 'stop' | 'leave' | 'cancel';

export interface QuitFlowOptions {
  listSandboxes(): Promise<Sandbox[]>;
  stopSandbox(id: string): Promise<unknown>;
  /** Asks what to do with the sandboxes still running. */
  ask(running: Sandbox[]): Promise<QuitChoice>;
  /** Ends the app's own streams and lets go of a daemon hosted in this process. */
  shutdown(): Promise<void>;
}

/** Sandboxes that hold a running VMM. */
const isActive = (sandbox: Sandbox) => sandbox.state === 'running' || sandbox.state === 'paused';

/**
 * Whether to quit, and getting ready to: with sandboxes still running the user chooses to
 * stop them, leave them running (a later daemon adopts them) or not quit after all.
 * Resolves true once it is safe to quit.
 */
export async function prepareQuit(options: QuitFlowOptions): Promise<boolean> {
  let running: Sandbox[] = [];
  try {
    running = (await options.listSandboxes()).filter(isActive);
  } catch {
    // A daemon that does not answer has nothing to ask about.
  }
  if (running.length > 0) {
    const choice = await options.ask(running);
    if (choice === 'cancel') return false;
    if (choice === 'stop') await Promise.allSettled(running.map((sandbox) => options.stopSandbox(sandbox.id)));
  }
  await options.shutdown();
  return true;
}

/** The question as a message box: Stop them / Leave running / Cancel (also Escape). */
export function askInMessageBox(
  showMessageBox: (options: MessageBoxOptions) => Promise<MessageBoxReturnValue>,
  hostedHere: boolean,
): (running: Sandbox[]) => Promise<QuitChoice> {
  const choices: QuitChoice[] = ['stop', 'leave', 'cancel'];
  return async (running) => {
    const names = running.map((sandbox) => sandbox.name);
    const listed = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
    const { response } = await showMessageBox({
      type: 'question',
      title: 'Quit MicroVM Sandbox',
      message: `${running.length} sandbox${running.length === 1 ? ' is' : 'es are'} still running: ${listed}`,
      detail: hostedHere
        ? 'Stop them, or leave them running: the next time the app or `microvm serve` starts, it takes them over again.'
        : 'They run under a daemon this app did not start; leaving them running keeps them there.',
      buttons: ['Stop them', 'Leave running', 'Cancel'],
      defaultId: 0,
      cancelId: 2,
      noLink: true,
    });
    return choices[response] ?? 'cancel';
  };
}

/**
 * Routes every way of quitting (the window's close button, the tray, the menu, app.quit)
 * through prepareQuit once: the quit is held until the user has chosen and the daemon is
 * closed, and a Cancel leaves the app as it was, window included.
 */
export function installQuitFlow(app: Pick<App, 'on' | 'quit'>, window: Pick<BrowserWindow, 'on'>, options: QuitFlowOptions): void {
  let phase: 'running' | 'deciding' | 'quitting' = 'running';
  app.on('before-quit', (event) => {
    if (phase === 'quitting') return;
    event.preventDefault();
    if (phase === 'deciding') return;
    phase = 'deciding';
    prepareQuit(options)
      .catch((error: unknown) => {
        console.error(`quitting: ${(error as Error).message}`);
        return true;
      })
      .then((quit) => {
        phase = quit ? 'quitting' : 'running';
        if (quit) app.quit();
      });
  });
  window.on('close', (event) => {
    if (phase === 'quitting') return;
    event.preventDefault();
    app.quit();
  });
}
