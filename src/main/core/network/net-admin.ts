import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { execa } from 'execa';
import { auditLogPath } from '../../net-helper/audit-log.js';
import { NetHelperError } from '../../net-helper/helper-arguments.js';
import { runVerb, type Verb } from '../../net-helper/helper-verbs.js';
import { SandboxError } from '../errors/sandbox-error.js';

/** IPv4 CIDRs a sandbox may (allow) or may not (deny) reach; an empty allow list means everything not denied. */
export interface EgressPolicy {
  allow: string[];
  deny: string[];
}

/**
 * The privileged network operations the daemon needs for TAP networking. Each one is a
 * verb of the net helper (src/main/net-helper), which checks every argument again and
 * records the call in its audit log; each is idempotent.
 */
export interface NetAdmin {
  /** The bridge with its gateway address, IPv4 forwarding, and the project's nftables tables with masquerade for the subnet. */
  ensureBridge(bridge: string, gatewayCidr: string): Promise<void>;
  /** The bridge, and the project's nftables tables once no project bridge is left; fails while taps are still attached. */
  deleteBridge(bridge: string): Promise<void>;
  /** A TAP owned by `uid`, an isolated port of `bridge`, up. Without root, `uid` must be the daemon's own. */
  createTap(tap: string, uid: number, bridge: string): Promise<void>;
  deleteTap(tap: string): Promise<void>;
  /** Replaces the TAP's rules: only `guestIp` may be sent from it, deny CIDRs are dropped, and with an allow list all else is. */
  setSandboxRules(tap: string, guestIp: string, policy: EgressPolicy): Promise<void>;
  removeSandboxRules(tap: string): Promise<void>;
}

/** Where scripts/install-net-helper.sh puts the helper; each verb is a link named `microvm-net-helper-<verb>` beside it. */
export const NET_HELPER_PATH = '/usr/local/libexec/microvm-sandbox/microvm-net-helper';

const INSTALL_HINT = 'install it with `sudo scripts/install-net-helper.sh` (docs/networking.md)';

/**
 * The daemon's NetAdmin. As root the verbs run in this process; otherwise each call runs
 * `pkexec <helper>-<verb> args…`, and polkit decides (org.microvm-sandbox.net-helper.<verb>).
 * Calls are made one at a time: a verb reads the ruleset before it changes it.
 */
export function netAdmin(options: { helperPath?: string } = {}): NetAdmin {
  const run = process.getuid?.() === 0 ? inProcess : throughPkexec(options.helperPath ?? NET_HELPER_PATH);
  const call = (verb: Verb, args: string[]) => serialised(() => run(verb, args));
  return {
    ensureBridge: (bridge, gatewayCidr) => call('bridge-ensure', [bridge, gatewayCidr]),
    deleteBridge: (bridge) => call('bridge-delete', [bridge]),
    createTap: (tap, uid, bridge) => call('tap-create', [tap, String(uid), bridge]),
    deleteTap: (tap) => call('tap-delete', [tap]),
    setSandboxRules: (tap, guestIp, policy) =>
      call('rules-set', [tap, guestIp, ...policy.allow.flatMap((cidr) => ['--allow', cidr]), ...policy.deny.flatMap((cidr) => ['--deny', cidr])]),
    removeSandboxRules: (tap) => call('rules-remove', [tap]),
  };
}

let queue: Promise<unknown> = Promise.resolve();

function serialised<T>(work: () => Promise<T>): Promise<T> {
  const result = queue.then(work, work);
  queue = result.catch(() => undefined);
  return result;
}

async function inProcess(verb: Verb, args: string[]): Promise<void> {
  try {
    await runVerb(verb, args, { via: 'daemon', uid: 0 }, auditLogPath(process.env));
  } catch (error) {
    if (!(error instanceof NetHelperError)) throw error;
    throw helperError(verb, error.outcome, error.message);
  }
}

function helperError(verb: Verb, outcome: NetHelperError['outcome'], message: string): SandboxError {
  if (outcome === 'refused') return new SandboxError('invalid_argument', `the network helper refused ${verb}: ${message}`, { verb });
  if (outcome === 'missing_tool') return new SandboxError('missing_tool', message, { verb });
  return new SandboxError('network_helper_failed', `network helper ${verb} failed: ${message}`, { verb });
}

/** pkexec's own exit statuses: the helper never uses them. */
const PKEXEC_DISMISSED = 126;
const PKEXEC_NOT_AUTHORIZED = 127;
const HELPER_STATUS = { 2: 'refused', 3: 'missing_tool' } as const;

function throughPkexec(helperPath: string) {
  return async (verb: Verb, args: string[]): Promise<void> => {
    const program = `${helperPath}-${verb}`;
    try {
      await access(program, constants.X_OK);
    } catch {
      throw new SandboxError('missing_tool', `the network helper is not installed (${program} is missing): ${INSTALL_HINT}`, { verb });
    }
    const result = await execa('pkexec', [program, ...args], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
    if ((result as { code?: string }).code === 'ENOENT') {
      throw new SandboxError('missing_tool', "pkexec was not found: install Debian's pkexec package (polkit), or run the daemon as root", { verb });
    }
    if (result.exitCode === 0) return;
    const stderr = result.stderr.trim();
    const action = `org.microvm-sandbox.net-helper.${verb}`;
    if (result.exitCode === PKEXEC_DISMISSED) throw new SandboxError('network_helper_failed', `polkit authorization for ${action} was dismissed`, { verb });
    if (result.exitCode === PKEXEC_NOT_AUTHORIZED) {
      throw new SandboxError('network_helper_failed', `polkit did not authorize ${action}${stderr ? `: ${stderr}` : ''}`, { verb });
    }
    const outcome = HELPER_STATUS[result.exitCode as keyof typeof HELPER_STATUS] ?? 'failed';
    // The helper's one line already names itself, the verb and the outcome; keep only its reason.
    const reason = stderr.replace(/^microvm-net-helper[^:]*: (refused|failed): /, '') || `exit status ${String(result.exitCode)}`;
    throw helperError(verb, outcome, reason);
  };
}
