/**
 * What is wrong with a port typed into the add form, or null. The daemon checks again;
 * this only catches what a person would rather hear before a round trip.
 */
export function portFieldProblem(text: string, options: { optional: boolean }): string | null {
  const value = text.trim();
  if (value === '') return options.optional ? null : 'Enter the port inside the sandbox.';
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65_535) return 'A port is a whole number from 1 to 65535.';
  return null;
}

/** The port a field holds, or undefined for an empty optional one (the daemon then picks a free port). */
export function portFieldValue(text: string): number | undefined {
  const value = text.trim();
  return value === '' ? undefined : Number(value);
}
