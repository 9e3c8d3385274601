import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { CpioNewcWriter } from '../../src/main/core/images/cpio-newc-writer.js';

describe('CpioNewcWriter', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes an archive that busybox cpio reads back, with modes, links and device nodes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpio-test-'));
    dirs.push(dir);
    const archive = join(dir, 'test.cpio');
    const cpio = await CpioNewcWriter.create(archive);
    await cpio.directory('etc');
    await cpio.directory('tmp', 0o1777);
    await cpio.file('etc/odd-length.txt', Buffer.from('abc'), 0o600);
    await cpio.file('init', Buffer.from('#!/bin/sh\n'), 0o755);
    await cpio.symlink('bin/sh', '/bin/busybox');
    await cpio.charDevice('dev/console', 0o600, 5, 1);
    await cpio.close();

    const bytes = await readFile(archive);
    expect(bytes.length % 4).toBe(0);
    const { stdout } = await execa('busybox', ['cpio', '-t', '-v'], { input: bytes });
    const lines = stdout.split('\n');
    const line = (name: string) => lines.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `)) ?? '';
    expect(line('etc')).toMatch(/^drwxr-xr-x/);
    expect(line('tmp')).toMatch(/^drwxrwxrwt/);
    expect(line('etc/odd-length.txt')).toMatch(/^-rw------- .* 3 /);
    expect(line('init')).toMatch(/^-rwxr-xr-x/);
    expect(line('bin/sh')).toMatch(/^lrwxrwxrwx .* bin\/sh -> \/bin\/busybox$/);
    expect(line('dev/console')).toMatch(/^crw-------/);
    expect(lines.some((l) => l.includes('TRAILER'))).toBe(false);
  });
});
