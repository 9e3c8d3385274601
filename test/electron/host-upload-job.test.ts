import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHostUpload } from '../../src/main/electron/host-upload-job.js';
import type { UploadProgress } from '../../src/shared/app-contract.js';
import { MicrovmError, type WriteOptions } from '../../src/sdk/index.js';

// The upload job's bookkeeping against a stand-in for SandboxFiles.write; the real SDK and
// daemon are exercised in test/electron-daemon/sdk-app-api.test.ts.
let dir: string;
let small: string;
let large: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'host-upload-'));
  small = join(dir, 'small.txt');
  large = join(dir, 'large.bin');
  await writeFile(small, 'hello');
  await writeFile(large, Buffer.alloc(4 * 1024 * 1024, 7));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Reads the stream like the daemon would, slowly when asked, and records where each file went. */
function fakeFiles(options: { slow?: boolean; refuse?: string } = {}) {
  const written: Record<string, number> = {};
  return {
    written,
    files: {
      async write(path: string, data: unknown, writeOptions: WriteOptions = {}) {
        if (path === options.refuse) throw new MicrovmError('permission_denied', `${path}: permission denied`);
        let size = 0;
        for await (const chunk of data as Readable) {
          size += (chunk as Buffer).length;
          writeOptions.onProgress?.(size);
          if (options.slow) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        written[path] = size;
        return { path, size, sha256: '' };
      },
    },
  };
}

const states = (progress: UploadProgress[], index: number) => progress.filter((p) => p.index === index).map((p) => p.state);

it('uploads into destDir by relative path, reporting each state once and the final size', async () => {
  const { files, written } = fakeFiles();
  const progress: UploadProgress[] = [];
  const job = startHostUpload(files, '/root/in', [
    { relativePath: 'a/small.txt', path: small, size: 5 },
    { relativePath: 'large.bin', path: large, size: 1 },
  ], (p) => progress.push(p));
  expect(await job.result()).toEqual({ done: 2, failed: 0, cancelled: 0 });
  expect(written).toEqual({ '/root/in/a/small.txt': 5, '/root/in/large.bin': 4 * 1024 * 1024 });
  expect(states(progress, 0)).toEqual(['queued', 'uploading', 'done']);
  // The total is the file's size on disk, whatever the renderer said.
  expect(progress.filter((p) => p.index === 1).at(-1)).toMatchObject({ state: 'done', loaded: 4 * 1024 * 1024, total: 4 * 1024 * 1024 });
});

it('fails single files with a reason and carries on with the rest', async () => {
  const { files, written } = fakeFiles({ refuse: '/root/locked' });
  const progress: UploadProgress[] = [];
  const job = startHostUpload(files, '/root', [
    { relativePath: '../escape', path: small, size: 5 },
    { relativePath: 'gone', path: join(dir, 'missing'), size: 5 },
    { relativePath: 'not-on-disk', path: '', size: 5 },
    { relativePath: 'folder', path: dir, size: 0 },
    { relativePath: 'locked', path: small, size: 5 },
    { relativePath: 'fine.txt', path: small, size: 5 },
  ], (p) => progress.push(p));
  expect(await job.result()).toEqual({ done: 1, failed: 5, cancelled: 0 });
  expect(written).toEqual({ '/root/fine.txt': 5 });
  const errors = progress.filter((p) => p.state === 'failed').map((p) => p.error);
  expect(errors).toEqual([
    expect.stringContaining('"../escape" must be a relative path without empty, . or .. parts'),
    expect.stringContaining('gone: cannot read'),
    expect.stringContaining('not-on-disk: the file has no path on this machine'),
    expect.stringContaining('is not a regular file'),
    '/root/locked: permission denied',
  ]);
});

it('cancels one file mid-way, and everything still queued', async () => {
  const { files, written } = fakeFiles({ slow: true });
  const progress: UploadProgress[] = [];
  const job = startHostUpload(files, '/root', [
    { relativePath: 'first.bin', path: large, size: 0 },
    { relativePath: 'second.txt', path: small, size: 5 },
    { relativePath: 'third.txt', path: small, size: 5 },
  ], (p) => progress.push(p));
  while (!progress.some((p) => p.index === 0 && p.state === 'uploading' && p.loaded > 0)) await new Promise((resolve) => setTimeout(resolve, 5));
  job.cancel(0);
  expect(await job.result()).toEqual({ done: 2, failed: 0, cancelled: 1 });
  expect(states(progress, 0).at(-1)).toBe('cancelled');
  expect(Object.keys(written)).toEqual(['/root/second.txt', '/root/third.txt']);
  // Cancelling files that are done changes nothing.
  const reported = progress.length;
  job.cancel();
  expect(progress).toHaveLength(reported);

  const rest = fakeFiles({ slow: true });
  const restProgress: UploadProgress[] = [];
  const all = startHostUpload(rest.files, '/root', [
    { relativePath: 'first.bin', path: large, size: 0 },
    { relativePath: 'second.txt', path: small, size: 5 },
  ], (p) => restProgress.push(p));
  while (!restProgress.some((p) => p.state === 'uploading')) await new Promise((resolve) => setTimeout(resolve, 5));
  all.cancel();
  expect(await all.result()).toEqual({ done: 0, failed: 0, cancelled: 2 });
  expect(states(restProgress, 1)).toEqual(['queued', 'cancelled']);
  expect(rest.written).toEqual({});
});

it('refuses a destination that is not an absolute guest path', () => {
  expect(() => startHostUpload(fakeFiles().files, 'relative/dir', [], () => undefined)).toThrow(/destDir: "relative\/dir" is not an absolute guest path/);
});
