import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../../src/main/core/paths/app-paths.js';
import { TestNamespace, run, type Run } from './test-namespace.js';

/**
 * netAdmin(): as root the verbs run in the daemon's own process (no pkexec, no installed
 * helper); otherwise through `pkexec <helper>-<verb>`, whose outcomes become SandboxErrors.
 */
const CHILD = join(projectRoot(), 'test', 'unit', 'net-helper', 'net-admin-child.ts');
const VERBS = ['bridge-ensure', 'bridge-delete', 'tap-create', 'tap-delete', 'rules-set', 'rules-remove'];

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-net-admin-test-'));
  chmodSync(dir, 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function results(result: Run): Array<{ ok?: true; code?: string; message?: string }> {
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout.trim().split('\n').map((line) => JSON.parse(line));
}

describe('as root', () => {
  let ns: TestNamespace;
  beforeAll(() => {
    ns = new TestNamespace();
  });
  afterAll(() => ns?.close());

  function admin(calls: unknown[]): Run {
    // A helper path where nothing is installed: the pkexec path would fail with missing_tool.
    return ns.exec([process.execPath, '--import', 'tsx', CHILD, join(dir, 'not-installed', 'microvm-net-helper'), JSON.stringify(calls)], {
      MICROVM_NET_HELPER_AUDIT: join(dir, 'root-audit.log'),
    });
  }

  it('runs the verbs in process, one at a time, and maps a refusal to invalid_argument', () => {
    const created = results(
      admin([
        ['ensureBridge', 'mvbr0', '10.213.0.1/24'],
        [
          ['createTap', 'mvtone', 1000, 'mvbr0'],
          ['createTap', 'mvttwo', 1000, 'mvbr0'],
        ],
        [
          ['setSandboxRules', 'mvtone', '10.213.0.5', { allow: [], deny: ['192.0.2.0/24'] }],
          ['setSandboxRules', 'mvttwo', '10.213.0.6', { allow: ['198.51.100.0/24'], deny: [] }],
        ],
        ['createTap', 'mvt/x', 1000, 'mvbr0'],
        ['setSandboxRules', 'mvtone', '10.213.0.5', { allow: ['10.0.0.1/8'], deny: [] }],
      ]),
    );
    expect(created.slice(0, 5)).toEqual(Array(5).fill({ ok: true }));
    expect(created[5]).toEqual({ code: 'invalid_argument', message: 'the network helper refused tap-create: TAP "mvt/x" is not a tap name (mvt followed by 1 to 12 lowercase letters or digits)' });
    expect(created[6]).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('did you mean 10.0.0.0/8?') });

    const rules = ns.execOk(['nft', 'list', 'ruleset']);
    expect(rules).toContain('10.213.0.5 : jump tap_mvtone');
    expect(rules).toContain('10.213.0.6 : jump tap_mvttwo');
    expect(rules).toContain('ip daddr 192.0.2.0/24 drop');
    expect(rules).toContain('ip daddr 198.51.100.0/24 accept');
    const masters = (JSON.parse(ns.execOk(['ip', '-j', 'link', 'show', 'master', 'mvbr0'])) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
    expect(masters).toEqual(['mvtone', 'mvttwo']);

    const audit = readFileSync(join(dir, 'root-audit.log'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(audit.map((entry) => [entry.verb, entry.via, entry.outcome])).toEqual([
      ['bridge-ensure', 'daemon', 'ok'],
      ['tap-create', 'daemon', 'ok'],
      ['tap-create', 'daemon', 'ok'],
      ['rules-set', 'daemon', 'ok'],
      ['rules-set', 'daemon', 'ok'],
      ['tap-create', 'daemon', 'refused'],
      ['rules-set', 'daemon', 'refused'],
    ]);
  });

  it('maps a failure to network_helper_failed, and cleans up completely', () => {
    const removed = results(
      admin([
        ['deleteBridge', 'mvbr0'],
        ['removeSandboxRules', 'mvtone'],
        ['removeSandboxRules', 'mvttwo'],
        ['deleteTap', 'mvtone'],
        ['deleteTap', 'mvttwo'],
        ['deleteBridge', 'mvbr0'],
      ]),
    );
    expect(removed[0]).toEqual({ code: 'network_helper_failed', message: 'network helper bridge-delete failed: bridge mvbr0 still has ports (mvtone, mvttwo): delete their taps first' });
    expect(removed.slice(1)).toEqual(Array(5).fill({ ok: true }));
    expect(ns.execOk(['nft', 'list', 'ruleset'])).toBe('');
    expect((JSON.parse(ns.execOk(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname)).toEqual(['lo']);
  });
});

describe('as an ordinary user', () => {
  const NOBODY = ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  let helper: string;
  let calls: string;

  beforeAll(() => {
    // A stand-in pkexec that records its argv and answers as told, and a helper's verb links for it to find.
    const bin = join(dir, 'bin');
    const libexec = join(dir, 'libexec');
    calls = join(dir, 'pkexec-calls');
    for (const d of [bin, libexec]) mkdirSync(d, { mode: 0o755 });
    writeFileSync(calls, '', { mode: 0o666 });
    chmodSync(calls, 0o666);
    writeFileSync(
      join(bin, 'pkexec'),
      [
        '#!/bin/sh',
        `printf '%s\\n' "$*" >> ${calls}`,
        'case "$2" in mvts*) status=${2#mvts} ;; *) exit 0 ;; esac',
        'eval "message=\\${FAKE_STDERR_$status:-}"',
        '[ -z "$message" ] || echo "$message" >&2',
        'exit "$status"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    helper = join(libexec, 'microvm-net-helper');
    writeFileSync(helper, '#!/bin/sh\nexit 99\n', { mode: 0o755 });
    for (const verb of VERBS) symlinkSync(helper, `${helper}-${verb}`);
  });

  function admin(calls: unknown[], env: NodeJS.ProcessEnv, helperPath = helper): Run {
    return run([...NOBODY, process.execPath, '--import', 'tsx', CHILD, helperPath, JSON.stringify(calls)], {
      PATH: join(dir, 'bin'),
      HOME: dir,
      ...env,
    });
  }

  it('runs pkexec with the verb link and the arguments as an array', () => {
    const out = results(
      admin(
        [
          ['ensureBridge', 'mvbr0', '10.213.0.1/24'],
          ['createTap', 'mvtone', 65534, 'mvbr0'],
          ['setSandboxRules', 'mvtone', '10.213.0.5', { allow: ['198.51.100.0/24', '203.0.113.7'], deny: ['198.51.100.128/25'] }],
          ['removeSandboxRules', 'mvtone'],
          ['deleteTap', 'mvtone'],
          ['deleteBridge', 'mvbr0'],
        ],
        {},
      ),
    );
    expect(out).toEqual(Array(6).fill({ ok: true }));
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      `${helper}-bridge-ensure mvbr0 10.213.0.1/24`,
      `${helper}-tap-create mvtone 65534 mvbr0`,
      `${helper}-rules-set mvtone 10.213.0.5 --allow 198.51.100.0/24 --allow 203.0.113.7 --deny 198.51.100.128/25`,
      `${helper}-rules-remove mvtone`,
      `${helper}-tap-delete mvtone`,
      `${helper}-bridge-delete mvbr0`,
    ]);
  });

  it("turns the helper's and pkexec's exit statuses into SandboxErrors", () => {
    // The stand-in answers a tap named mvtsN with exit status N and FAKE_STDERR_N.
    const statuses = [2, 1, 3, 127, 126];
    const out = results(
      admin(
        statuses.map((status) => ['deleteTap', `mvts${status}`]),
        {
          FAKE_STDERR_2: 'microvm-net-helper tap-delete: refused: TAP mvts2 belongs to uid 0, not to the caller (65534)',
          FAKE_STDERR_1: 'microvm-net-helper tap-delete: failed: ip link delete dev mvts1 failed: busy',
          FAKE_STDERR_3: 'microvm-net-helper tap-delete: failed: ip was not found',
          FAKE_STDERR_127: 'Error executing command as another user: Not authorized',
        },
      ),
    );
    expect(out).toEqual([
      { code: 'invalid_argument', message: 'the network helper refused tap-delete: TAP mvts2 belongs to uid 0, not to the caller (65534)' },
      { code: 'network_helper_failed', message: 'network helper tap-delete failed: ip link delete dev mvts1 failed: busy' },
      { code: 'missing_tool', message: 'ip was not found' },
      {
        code: 'network_helper_failed',
        message: 'polkit did not authorize org.microvm-sandbox.net-helper.tap-delete: Error executing command as another user: Not authorized',
      },
      { code: 'network_helper_failed', message: 'polkit authorization for org.microvm-sandbox.net-helper.tap-delete was dismissed' },
    ]);
  });

  it('says how to install what is missing: the helper, or pkexec', () => {
    const tap = [['deleteTap', 'mvtone']];
    const noHelper = results(admin(tap, {}, join(dir, 'nowhere', 'microvm-net-helper')))[0];
    expect(noHelper).toMatchObject({ code: 'missing_tool', message: expect.stringContaining('sudo scripts/install-net-helper.sh') });
    const noPkexec = results(admin(tap, { PATH: join(dir, 'nowhere') }))[0];
    expect(noPkexec).toMatchObject({ code: 'missing_tool', message: expect.stringContaining("pkexec was not found: install Debian's pkexec package") });
  });
});
