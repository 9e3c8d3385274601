import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { userInfo } from 'node:os';
import { SandboxError } from '../errors/sandbox-error.js';

/**
 * How a rootfs build gets the root-owned files a Debian system needs: as root
 * (mmdebstrap --mode=root), or without root through a user namespace
 * (mmdebstrap --mode=unshare), which needs subordinate ids and newuidmap/newgidmap.
 */
export type BuildMode = 'root' | 'unshare';

/** What decides the mode; gathered from the host by hostPrivilegeFacts, or made up by tests. */
export interface PrivilegeFacts {
  uid: number;
  user: string;
  /** Contents of /etc/subuid and /etc/subgid ('' when missing). */
  subuid: string;
  subgid: string;
  /** newuidmap and newgidmap (Debian package uidmap) are installed. */
  newidmap: boolean;
  /** kernel.unprivileged_userns_clone (Debian); null when the kernel has no such switch. */
  unprivilegedUserns: boolean | null;
  /** kernel.apparmor_restrict_unprivileged_userns (Ubuntu 23.10+); null when absent. */
  apparmorRestrictsUserns: boolean | null;
  /** user.max_user_namespaces; null when unknown. */
  maxUserNamespaces: number | null;
}

export type PrivilegeDecision = { mode: BuildMode } | { mode: null; reason: string };

/** Does /etc/subuid-style text give `user` (or `uid`) a range of at least 65536 ids? */
export function hasSubordinateRange(text: string, user: string, uid: number): boolean {
  return text.split('\n').some((line) => {
    const [owner, start, count] = line.trim().split(':');
    return (owner === user || owner === String(uid)) && Number(start) > 0 && Number(count) >= 65536;
  });
}

/** Picks the mode, or says exactly what is missing and how to get it. */
export function decideBuildMode(facts: PrivilegeFacts): PrivilegeDecision {
  if (facts.uid === 0) return { mode: 'root' };
  const missing: string[] = [];
  const add = `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${facts.user}`;
  if (!hasSubordinateRange(facts.subuid, facts.user, facts.uid)) missing.push(`an /etc/subuid entry for ${facts.user} (${add})`);
  if (!hasSubordinateRange(facts.subgid, facts.user, facts.uid)) missing.push(`an /etc/subgid entry for ${facts.user}`);
  if (!facts.newidmap) missing.push('newuidmap and newgidmap (sudo apt-get install uidmap)');
  if (facts.unprivilegedUserns === false) missing.push('unprivileged user namespaces, which this kernel has switched off (sudo sysctl -w kernel.unprivileged_userns_clone=1)');
  if (facts.apparmorRestrictsUserns === true) {
    missing.push('user namespaces, which AppArmor restricts here (sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or build as root)');
  }
  if (facts.maxUserNamespaces === 0) missing.push('user namespaces, which user.max_user_namespaces=0 switches off');
  if (missing.length === 0) return { mode: 'unshare' };
  return {
    mode: null,
    reason:
      `building a rootfs image needs root or /etc/subuid entries for unshare mode (mmdebstrap --mode=unshare): ` +
      `run the build (or the daemon) as root, or provide ${missing.join('; ')}`,
  };
}

export async function hostPrivilegeFacts(): Promise<PrivilegeFacts> {
  const uid = process.getuid?.() ?? 0;
  const text = (path: string) => readFile(path, 'utf8').catch(() => '');
  const flag = async (path: string): Promise<boolean | null> => {
    const value = (await text(path)).trim();
    return value === '' ? null : value !== '0';
  };
  const executable = (path: string) => access(path, constants.X_OK).then(() => true, () => false);
  const max = (await text('/proc/sys/user/max_user_namespaces')).trim();
  return {
    uid,
    user: safeUserName(uid),
    subuid: await text('/etc/subuid'),
    subgid: await text('/etc/subgid'),
    newidmap: (await executable('/usr/bin/newuidmap')) && (await executable('/usr/bin/newgidmap')),
    unprivilegedUserns: await flag('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrictsUserns: await flag('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    maxUserNamespaces: max === '' ? null : Number(max),
  };
}

/** The mode this process can build in, or a build_failed error saying what privilege is needed. */
export async function hostBuildMode(facts?: PrivilegeFacts): Promise<BuildMode> {
  const decision = decideBuildMode(facts ?? (await hostPrivilegeFacts()));
  if (decision.mode === null) throw new SandboxError('build_failed', decision.reason, { privilege: 'root-or-subuid' });
  return decision.mode;
}

function safeUserName(uid: number): string {
  try {
    return userInfo().username;
  } catch {
    return String(uid);
  }
}
