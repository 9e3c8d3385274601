import { readFile } from 'node:fs/promises';

/**
 * A failure message with the guest's last serial console lines appended: what a person
 * needs to tell a kernel panic from a VMM crash, kept with the state after the VM's files
 * are gone.
 */
export async function withSerialTail(message: string, serialLog: string, lines = 20): Promise<string> {
  const text = await readFile(serialLog, 'utf8').catch(() => '(no serial output)');
  return `${message}\nlast serial console lines:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
}
