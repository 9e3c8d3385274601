import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: bad values become usage errors naming what was wrong. */
export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive whole number.');
  return Number(value);
}

export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number (0 or more).');
  return Number(value);
}

/** MiB as a plain number, or with an M/G suffix (512, 512M, 2G). */
export function memoryMiB(value: string): number {
  const match = /^(\d+)\s*(m|mi|mib|g|gi|gib)?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected MiB as a whole number, or with an M or G suffix (512, 512M, 2G).');
  const amount = Number(match[1]);
  const mib = match[2]?.toLowerCase().startsWith('g') ? amount * 1024 : amount;
  if (mib < 1) throw new InvalidArgumentError('expected more than 0 MiB.');
  return mib;
}

/** For a repeatable `KEY=VALUE` option: collects the pairs into one record. */
export function keyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError(`expected KEY=VALUE, got "${value}".`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** For a repeatable option: collects the values in order. */
export function repeated(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
