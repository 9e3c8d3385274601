import type { BuildProgress } from '../build/progress.js';

/**
 * Reading mmdebstrap's --verbose output: progress from its phase lines (`I: ...`) and
 * apt's per-package lines, and a clear error from the lines around a failure.
 */

/** Printed by the customize hook before each setup line and when one fails. */
export const SETUP_MARKER = 'microvm-setup:';

type Stage = 'get' | 'unpack' | 'setup';

interface Phase {
  pattern: RegExp;
  step: string;
  message: string;
  from: number;
  to: number;
  /** apt/dpkg lines counted against the number of packages inside this phase. */
  stages?: Stage[];
}

/** Fractions of the whole build; the image writing after mmdebstrap takes the rest. */
const PHASES: Phase[] = [
  { pattern: /^I: running apt-get update/, step: 'update', message: 'reading the Debian package lists', from: 0.06, to: 0.1 },
  { pattern: /^I: downloading packages with apt/, step: 'download', message: 'downloading the base system', from: 0.1, to: 0.2, stages: ['get'] },
  { pattern: /^I: extracting archives/, step: 'extract', message: 'unpacking the base system', from: 0.2, to: 0.25 },
  { pattern: /^I: installing essential packages/, step: 'install', message: 'installing the base system', from: 0.25, to: 0.35, stages: ['unpack', 'setup'] },
  { pattern: /^I: installing remaining packages/, step: 'packages', message: "installing the template's packages", from: 0.35, to: 0.78, stages: ['get', 'unpack', 'setup'] },
  { pattern: /^I: running --customize-hook/, step: 'setup', message: "running the template's setup", from: 0.78, to: 0.85 },
  { pattern: /^I: cleaning package lists/, step: 'clean', message: 'cleaning apt caches', from: 0.85, to: 0.86 },
];

const STAGE_LINES: Record<Stage, { pattern: RegExp; verb: string }> = {
  get: { pattern: /^Get:\d+ \S+ \S+ \S+ (\S+)/, verb: 'downloading' },
  unpack: { pattern: /^Unpacking (\S+)/, verb: 'unpacking' },
  setup: { pattern: /^Setting up (\S+)/, verb: 'setting up' },
};

export class MmdebstrapProgress {
  private phase: Phase | null = null;
  /** Packages apt said it would install in the current phase; the essential set carries over to its install phase. */
  private total = 0;
  private counts: Record<Stage, number> = { get: 0, unpack: 0, setup: 0 };
  private lastFraction = -1;

  constructor(
    private readonly emit: (event: BuildProgress) => void,
    private readonly setupLines = 0,
  ) {}

  line(raw: string): void {
    const line = raw.trimEnd();
    const phase = PHASES.find((p) => p.pattern.test(line));
    if (phase) {
      // The essential packages are counted when downloaded and installed without a new count.
      if (phase.step !== 'install' && phase.step !== 'extract') this.total = 0;
      this.phase = phase;
      this.counts = { get: 0, unpack: 0, setup: 0 };
      this.send(phase.step, phase.message, phase.from, true);
      return;
    }
    const current = this.phase;
    if (!current) return;
    const newly = /^\d+ upgraded, (\d+) newly installed/.exec(line);
    if (newly) {
      this.total = Number(newly[1]);
      return;
    }
    if (current.step === 'setup' && line.startsWith(SETUP_MARKER)) {
      const match = /^microvm-setup: line (\d+): (.*)$/.exec(line);
      if (match && this.setupLines > 0) {
        const n = Number(match[1]);
        const at = current.from + ((current.to - current.from) * (n - 1)) / this.setupLines;
        this.send('setup', `setup line ${n}/${this.setupLines}: ${match[2] ?? ''}`, at, true);
      }
      return;
    }
    const stages = current.stages;
    if (!stages || this.total === 0) return;
    for (const stage of stages) {
      const match = STAGE_LINES[stage].pattern.exec(line);
      if (!match) continue;
      this.counts[stage]++;
      const total = this.total;
      const done = stages.reduce((sum, s) => sum + Math.min(this.counts[s], total), 0) / (stages.length * total);
      const count = Math.min(this.counts[stage], total);
      this.send(current.step, `${current.message}: ${STAGE_LINES[stage].verb} ${match[1] ?? ''} (${count}/${total})`, current.from + (current.to - current.from) * done, false);
      return;
    }
  }

  /** At most one event per percent, except phase changes, so a 600-package install is not 1800 events. */
  private send(step: string, message: string, fraction: number, always: boolean): void {
    const rounded = Math.round(fraction * 1000) / 1000;
    if (!always && rounded - this.lastFraction < 0.01) return;
    this.lastFraction = rounded;
    this.emit({ step, message, fraction: rounded });
  }
}

/** What went wrong, from mmdebstrap's output (the most specific cause it names). */
export function explainMmdebstrapFailure(template: string, output: string[], setup: string[], exitCode: number | undefined): string {
  const lines = output.map((l) => l.trimEnd());
  const setupFailure = lines.map((l) => /^microvm-setup: line (\d+) failed with exit status (\d+)/.exec(l)).find(Boolean);
  if (setupFailure) {
    const n = Number(setupFailure[1]);
    const start = lines.findIndex((l) => l.startsWith(`${SETUP_MARKER} line ${n}: `));
    const end = lines.findIndex((l) => l.startsWith(`${SETUP_MARKER} line ${n} failed`));
    const said = start >= 0 && end > start ? tail(lines.slice(start + 1, end), 8) : '';
    return `template ${template}: setup line ${n} (${JSON.stringify(setup[n - 1] ?? '?')}) failed with exit status ${setupFailure[2]}${said ? `; its output ended with:\n${said}` : ''}`;
  }
  const missing = unique(lines.map((l) => /^E: Unable to locate package (\S+)/.exec(l)?.[1]).filter((p): p is string => !!p));
  if (missing.length > 0) return missingPackagesMessage(template, missing);
  const noCandidate = unique(lines.map((l) => /^E: Package '([^']+)' has no installation candidate/.exec(l)?.[1]).filter((p): p is string => !!p));
  if (noCandidate.length > 0) {
    return `template ${template}: Debian package ${noCandidate.map((p) => `"${p}"`).join(', ')} has no installable version (it is virtual or was removed); name a real package`;
  }
  if (lines.some((l) => /^E: Unable to correct problems|^E: Unmet dependencies/.test(l))) {
    const unmet = lines.filter((l) => /^\s+\S+ : Depends:|^\s+Depends:|Breaks:|Conflicts:/.test(l));
    return `template ${template}: its packages cannot be installed together:\n${tail(unmet.length ? unmet : lines.filter((l) => l.startsWith('E:')), 12)}`;
  }
  const fetch = lines.filter((l) => /Failed to fetch|Temporary failure resolving|Could not resolve|Connection failed|Unable to connect/.test(l));
  if (fetch.length > 0) {
    return `template ${template}: downloading from the Debian mirror failed (check the network or the apt sources):\n${tail(fetch, 4)}`;
  }
  if (lines.some((l) => /newuidmap|newgidmap|subuid|unshare.*(failed|not permitted)|Operation not permitted/.test(l))) {
    return `template ${template}: mmdebstrap could not set up its user namespace: building needs root or /etc/subuid entries for unshare mode:\n${tail(lines.filter((l) => l.startsWith('E:') || /uidmap|unshare/.test(l)), 4)}`;
  }
  const errors = lines.filter((l) => l.startsWith('E:'));
  return `template ${template}: mmdebstrap failed${exitCode === undefined ? '' : ` (exit status ${exitCode})`}:\n${tail(errors.length ? errors : lines, 10)}`;
}

export function missingPackagesMessage(template: string, missing: string[]): string {
  const one = missing.length === 1;
  return `template ${template}: ${one ? 'Debian package' : 'Debian packages'} ${missing.map((p) => `"${p}"`).join(', ')} ${one ? 'does' : 'do'} not exist in Debian bookworm (main)`;
}

function tail(lines: string[], n: number): string {
  return lines
    .filter((l) => l.trim() !== '')
    .slice(-n)
    .map((l) => `  ${l}`)
    .join('\n');
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}
