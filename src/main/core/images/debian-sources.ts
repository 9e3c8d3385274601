import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Debian mirrors a rootfs build downloads from: the host's own apt sources for the
 * release (so a machine behind a local mirror or proxy keeps using it), or deb.debian.org
 * when the host has none for it.
 */
export interface DebianSource {
  uri: string;
  suite: string;
  components: string[];
}

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const SECURITY_MIRROR = 'http://deb.debian.org/debian-security';

/** The release's suites a rootfs is built from: the release itself, its updates and its security updates. */
export function releaseSuites(release: string): string[] {
  return [release, `${release}-updates`, `${release}-security`];
}

/** Parses one-line (`.list`) and deb822 (`.sources`) apt source files into `deb` entries. */
export function parseAptSources(text: string, format: 'list' | 'sources'): DebianSource[] {
  const out: DebianSource[] = [];
  if (format === 'list') {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
      if (match?.[1] && match[2]) out.push({ uri: match[1], suite: match[2], components: (match[3] ?? '').split(/\s+/).filter(Boolean) });
    }
    return out;
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      const cont = /^\s+(.*)$/.exec(raw);
      if (cont && last) {
        fields.set(last, `${fields.get(last) ?? ''} ${cont[1] ?? ''}`);
        continue;
      }
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (match?.[1]) {
        last = match[1].toLowerCase();
        fields.set(last, match[2] ?? '');
      }
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').trim().toLowerCase() === 'no') continue;
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean);
    for (const uri of words('uris')) {
      for (const suite of words('suites')) out.push({ uri, suite, components: words('components') });
    }
  }
  return out;
}

/** Every `deb` source the host's apt knows (sources.list and sources.list.d). */
export function hostAptSources(root = '/etc/apt'): DebianSource[] {
  const sources: DebianSource[] = [];
  const read = (path: string, format: 'list' | 'sources') => {
    try {
      sources.push(...parseAptSources(readFileSync(path, 'utf8'), format));
    } catch {
      // unreadable or missing: not a source
    }
  };
  read(join(root, 'sources.list'), 'list');
  let entries: string[];
  try {
    entries = readdirSync(join(root, 'sources.list.d')).sort();
  } catch {
    entries = [];
  }
  for (const entry of entries) {
    if (entry.endsWith('.list')) read(join(root, 'sources.list.d', entry), 'list');
    else if (entry.endsWith('.sources')) read(join(root, 'sources.list.d', entry), 'sources');
  }
  return sources;
}

/**
 * The sources for one release (e.g. bookworm), main component only: the host's entries for
 * the release's suites, else deb.debian.org. Non-Debian repositories the host happens to
 * use (they name other suites) never leak into a guest image.
 */
export function mirrorsFor(release: string, host: DebianSource[] = hostAptSources()): DebianSource[] {
  const wanted = releaseSuites(release);
  const picked: DebianSource[] = [];
  for (const suite of wanted) {
    const found = host.find((s) => s.suite === suite && s.components.includes('main') && /^(https?|file):/.test(s.uri));
    if (found) picked.push({ uri: found.uri.replace(/\/+$/, ''), suite, components: ['main'] });
  }
  if (!picked.some((s) => s.suite === release)) {
    return [
      { uri: DEFAULT_MIRROR, suite: release, components: ['main'] },
      { uri: DEFAULT_MIRROR, suite: `${release}-updates`, components: ['main'] },
      { uri: SECURITY_MIRROR, suite: `${release}-security`, components: ['main'] },
    ];
  }
  return picked;
}

/** Whether the host's own apt sources include the release's main suite (so its apt lists describe the same packages). */
export function hostTracksRelease(release: string, host: DebianSource[] = hostAptSources()): boolean {
  return host.some((s) => s.suite === release && s.components.includes('main') && /debian/.test(s.uri));
}

/** The one-line form mmdebstrap takes as a mirror argument. */
export function sourceLine(source: DebianSource): string {
  return `deb ${source.uri} ${source.suite} ${source.components.join(' ')}`;
}

/** Where apt keeps a suite's InRelease file after `apt-get update` (its URI-mangled name). */
export function aptListsReleaseFile(source: Pick<DebianSource, 'uri' | 'suite'>, listsDir = '/var/lib/apt/lists'): string {
  const mangled = `${source.uri.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '')}/dists/${source.suite}/InRelease`.replace(/\//g, '_');
  return join(listsDir, mangled);
}

/** The `Date:` field of a Release/InRelease file's text; null when it has none. */
export function releaseDate(text: string): string | null {
  return /^Date:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? null;
}

/**
 * The release's Release date (it changes with each point release), read from apt's lists
 * on the host, or from the mirror itself when the host's lists do not have it.
 */
export async function mirrorReleaseDate(source: DebianSource, listsDir = '/var/lib/apt/lists'): Promise<string> {
  try {
    const local = releaseDate(readFileSync(aptListsReleaseFile(source, listsDir), 'utf8'));
    if (local) return local;
  } catch {
    // not in the host's lists: ask the mirror
  }
  const url = `${source.uri}/dists/${source.suite}/InRelease`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const date = releaseDate(await response.text());
    if (date) return date;
    throw new Error('no Date field');
  } catch (error) {
    throw new Error(`cannot read the Release date of ${source.suite} from ${url}: ${(error as Error).message}`, { cause: error });
  }
}
