import { setTimeout as sleep } from 'node:timers/promises';
import type { ComputerAction, ComputerResult } from '../../../shared/api/computer-schemas.js';
import type { AgentClient } from '../agent/agent-client.js';
import type { RunResult } from '../agent/agent-types.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { TemplateDisplay, TemplateService } from '../images/built-image.js';
import { checkOnScreen, parseComputerAction, parseMouseLocation, unknownKeyNames, xdotoolArgv } from './computer-actions.js';
import { pngSize } from './png-info.js';

/** The X display every desktop template runs its server on (images/templates/desktop.json). */
export const GUEST_DISPLAY = ':0';
/** The guest port of the template's VNC server (x11vnc -localhost -rfbport 5900); fixed here, never taken from a client. */
export const GUEST_VNC_PORT = 5900;
const ACTION_TIMEOUT_MS = 15_000;
const SCREENSHOT_TIMEOUT_MS = 20_000;
/** A 1280×800 screenshot is well under 1 MiB; this only bounds a runaway. */
const MAX_SCREENSHOT_BYTES = 64 * 1024 * 1024;
const MAX_TOOL_OUTPUT_BYTES = 64 * 1024;

/** What computer use needs of the sandbox manager (SandboxManager has all of it). */
export interface ComputerSandboxes {
  get(idOrName: string): { id: string; name: string; template: string };
  agent(id: string): Promise<AgentClient>;
  readonly templates: { definition(name: string): { display: TemplateDisplay | null; services: TemplateService[] } };
}

/** A sandbox's screen: its size, from the template, and who the X server runs as. */
export interface SandboxDisplay {
  sandboxId: string;
  name: string;
  template: string;
  width: number;
  height: number;
  /** The X server's user (its service's `user`); root when undefined. */
  user: string | undefined;
  /** The X display name tools run against (DISPLAY). */
  x11Display: string;
}

/** The display of a sandbox, or `no_display` when its template has none. */
export function sandboxDisplay(sandboxes: ComputerSandboxes, idOrName: string): SandboxDisplay {
  const record = sandboxes.get(idOrName);
  let definition: { display: TemplateDisplay | null; services: TemplateService[] } | null;
  try {
    definition = sandboxes.templates.definition(record.template);
  } catch {
    // A template whose definition is gone (or broken) describes no screen.
    definition = null;
  }
  if (!definition?.display) {
    throw new SandboxError(
      'no_display',
      `sandbox "${record.name}" has no display: its template "${record.template}" defines none (create it from a template with a display, e.g. desktop)`,
      { template: record.template },
    );
  }
  const server = definition.services.find((s) => /(^|\/)X(vfb|vnc|org)?$/.test(s.argv[0] ?? ''));
  return {
    sandboxId: record.id,
    name: record.name,
    template: record.template,
    width: definition.display.width,
    height: definition.display.height,
    user: server?.user,
    x11Display: GUEST_DISPLAY,
  };
}

/**
 * Computer use over the guest agent: each action is one `xdotool` (or `scrot`) process
 * run in the guest against the template's X display, given as an argument vector.
 */
export class ComputerService {
  constructor(
    private readonly sandboxes: ComputerSandboxes,
    /** Tests on a host X server use another display than the guest's :0. */
    private readonly options: { x11Display?: string } = {},
  ) {}

  /** The sandbox's screen; `no_display` when it has none. */
  display(idOrName: string): SandboxDisplay {
    const display = sandboxDisplay(this.sandboxes, idOrName);
    return this.options.x11Display ? { ...display, x11Display: this.options.x11Display } : display;
  }

  /** Checks and performs one action (a request body); a bad action is refused before anything runs in the guest. */
  async perform(idOrName: string, input: unknown): Promise<ComputerResult> {
    const action = parseComputerAction(input);
    const display = this.display(idOrName);
    checkOnScreen(action, display);
    const started = performance.now();
    const result = await this.act(display, action);
    return { action: action.action, ...result, durationMs: Math.round((performance.now() - started) * 10) / 10 };
  }

  /** The whole screen as PNG bytes. */
  async screenshot(idOrName: string): Promise<{ png: Buffer; width: number; height: number }> {
    const display = this.display(idOrName);
    return captureScreen(await this.sandboxes.agent(display.sandboxId), display);
  }

  private async act(display: SandboxDisplay, action: ComputerAction): Promise<Omit<ComputerResult, 'action' | 'durationMs'>> {
    switch (action.action) {
      case 'screen_size':
        return { width: display.width, height: display.height };
      case 'wait':
        await sleep(action.durationMs ?? 1000);
        return {};
      case 'screenshot': {
        const { png, width, height } = await captureScreen(await this.sandboxes.agent(display.sandboxId), display);
        return { width, height, image: png.toString('base64'), mimeType: 'image/png' };
      }
      default: {
        const argv = xdotoolArgv(action)!;
        const timeoutMs = action.action === 'type' ? ACTION_TIMEOUT_MS + action.text.length * ((action.delayMs ?? 12) + 5) : ACTION_TIMEOUT_MS;
        const run = await runInDisplay(await this.sandboxes.agent(display.sandboxId), display, ['xdotool', ...argv], timeoutMs, MAX_TOOL_OUTPUT_BYTES);
        const stderr = run.stderr.toString('utf8');
        const unknown = unknownKeyNames(stderr);
        if (unknown.length > 0) {
          throw new SandboxError('invalid_argument', `keys: xdotool knows no key named ${unknown.map((k) => `"${k}"`).join(', ')} (use X keysym names: Return, ctrl, alt, shift, super, Delete, F1, a, …)`, {
            field: 'keys',
          });
        }
        failed(run, 'xdotool', display);
        if (action.action === 'cursor_position') return parseMouseLocation(run.stdout.toString('utf8'));
        return {};
      }
    }
  }
}

/** Where and as whom guest tools run: a SandboxDisplay, or less. */
export interface DisplayTarget {
  user?: string;
  /** For messages. */
  name?: string;
  x11Display?: string;
}

/** A screenshot of the display (scrot, PNG to stdout), checked to be a PNG. */
export async function captureScreen(agent: AgentClient, display: DisplayTarget): Promise<{ png: Buffer; width: number; height: number }> {
  const run = await runInDisplay(agent, display, ['scrot', '--overwrite', '-'], SCREENSHOT_TIMEOUT_MS, MAX_SCREENSHOT_BYTES);
  failed(run, 'scrot', display);
  const size = pngSize(run.stdout);
  if (!size) throw new SandboxError('display_unavailable', `scrot did not produce a PNG (${run.stdout.length} bytes): ${run.stderr.toString('utf8').trim().slice(0, 300)}`);
  return { png: run.stdout, ...size };
}

/** Runs a tool in the guest against the display. A missing tool is display_unavailable, naming it. */
export async function runInDisplay(
  agent: AgentClient,
  display: DisplayTarget,
  argv: string[],
  timeoutMs: number,
  maxOutputBytes: number,
): Promise<RunResult> {
  try {
    return await agent.run({ argv, env: { DISPLAY: display.x11Display ?? GUEST_DISPLAY }, ...(display.user ? { user: display.user } : {}), timeoutMs }, { maxOutputBytes });
  } catch (error) {
    if (error instanceof SandboxError && error.code === 'not_found') {
      throw new SandboxError('display_unavailable', `${argv[0]} is not installed in ${display.name ? `sandbox "${display.name}"` : 'the guest'}; the template needs the ${argv[0]} package`);
    }
    throw error;
  }
}

function failed(run: RunResult, tool: string, display: { name?: string }): void {
  if (run.exitCode === 0) return;
  const stderr = run.stderr.toString('utf8').trim().slice(0, 500);
  const where = display.name ? `sandbox "${display.name}"` : 'the guest';
  if (run.timedOut) throw new SandboxError('timeout', `${tool} in ${where} did not finish in time`);
  if (/can'?t open (x )?display|cannot open display|failed creating new xdo instance/i.test(stderr)) {
    throw new SandboxError('display_unavailable', `the X server of ${where} (display ${GUEST_DISPLAY}) is not answering: ${stderr}`);
  }
  throw new SandboxError('display_unavailable', `${tool} failed in ${where} (exit ${run.exitCode ?? run.signal}): ${stderr || 'no message'}`);
}
