import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, destroySandbox, expectProblem, ok, open, V1, type SandboxView, type Transport } from './api-http.js';

interface FileInfo {
  name: string;
  path: string;
  type: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget?: string;
}

let daemon: TestDaemon;
let sandbox: SandboxView;
beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
  // The guest's root is in RAM: a 200 MB file needs room.
  sandbox = await createSandbox(daemon, { name: 'files', memoryMiB: 768 });
});
afterAll(async () => {
  if (sandbox) await destroySandbox(daemon, sandbox.id);
  expect(await daemon.stop()).toEqual([]);
});

const base = `${V1}/sandboxes/files`;
const q = (path: string) => encodeURIComponent(path);

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
}

/** Samples the daemon's resident memory every 25 ms until stopped; returns the peak. */
function samplePeakRss(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssBytes(pid));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

describe('a 200 MB file, streamed both ways', () => {
  const size = 200 * 1024 * 1024;
  const chunk = 1024 * 1024;
  let sentSha256 = '';

  it('uploads with a raw PUT: sha256 matches and the daemon does not hold the file in memory', async () => {
    const hash = createHash('sha256');
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= size) return this.push(null);
        const bytes = randomBytes(chunk);
        hash.update(bytes);
        sent += bytes.length;
        this.push(bytes);
      },
    });
    const pid = daemon.process.pid!;
    const baseline = await rssBytes(pid);
    const sampler = samplePeakRss(pid);
    const answer = await call(daemon, 'PUT', `${base}/files/content?path=${q('/tmp/big.bin')}`, { body, headers: { 'content-type': 'application/octet-stream' } });
    const peak = await sampler.stop();
    sentSha256 = hash.digest('hex');
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ path: '/tmp/big.bin', size, sha256: sentSha256 });
    expect(peak - baseline).toBeLessThan(150 * 1024 * 1024);

    const inGuest = await ok<{ stdout: string }>(daemon, 'POST', `${base}/exec`, { json: { argv: ['sha256sum', '/tmp/big.bin'] } });
    expect(inGuest.stdout.split(' ')[0]).toBe(sentSha256);
  });

  it('downloads it again with content-length set: same sha256, memory still bounded', async () => {
    const pid = daemon.process.pid!;
    const baseline = await rssBytes(pid);
    const sampler = samplePeakRss(pid);
    const response = await open(daemon, 'GET', `${base}/files/content?path=${q('/tmp/big.bin')}`, { via: 'tcp' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe(String(size));
    expect(response.headers['content-type']).toBe('application/octet-stream');
    const hash = createHash('sha256');
    let received = 0;
    for await (const bytes of response) {
      hash.update(bytes as Buffer);
      received += (bytes as Buffer).length;
      // A slow reader: the daemon must apply back-pressure, not buffer the rest.
      if (received % (32 * chunk) < (bytes as Buffer).length) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const peak = await sampler.stop();
    expect(received).toBe(size);
    expect(hash.digest('hex')).toBe(sentSha256);
    expect(peak - baseline).toBeLessThan(150 * 1024 * 1024);
    await ok(daemon, 'DELETE', `${base}/files?path=${q('/tmp/big.bin')}`, { status: 204 });
  });
});

describe.each<Transport>(['unix', 'tcp'])('file operations over %s', (via) => {
  const root = `/tmp/ops-${via}`;

  it('uploads several files as multipart, one with a nested relative name', async () => {
    const form = new FormData();
    form.append('a', new Blob(['alpha\n']), 'a.txt');
    form.append('b', new Blob([Buffer.from([0, 1, 2, 3])]), 'b.bin');
    form.append('c', new Blob(['nested\n']), 'sub/dir/c.txt');
    const encoded = new Response(form);
    const body = Buffer.from(await encoded.arrayBuffer());
    const result = await ok<{ files: { path: string; size: number; sha256: string }[] }>(daemon, 'POST', `${base}/files/upload?path=${q(root)}`, {
      via,
      body,
      headers: { 'content-type': encoded.headers.get('content-type')! },
    });
    const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
    expect(result.files).toEqual([
      { path: `${root}/a.txt`, size: 6, sha256: sha('alpha\n') },
      { path: `${root}/b.bin`, size: 4, sha256: sha(Buffer.from([0, 1, 2, 3])) },
      { path: `${root}/sub/dir/c.txt`, size: 7, sha256: sha('nested\n') },
    ]);
    const nested = await call(daemon, 'GET', `${base}/files/content?path=${q(`${root}/sub/dir/c.txt`)}`, { via });
    expect(nested.text).toBe('nested\n');
    expect(nested.headers['content-length']).toBe('7');
  });

  it('refuses a multipart filename that climbs out of the target directory', async () => {
    const form = new FormData();
    form.append('evil', new Blob(['x']), '../../etc/evil');
    const encoded = new Response(form);
    const answer = await call(daemon, 'POST', `${base}/files/upload?path=${q(root)}`, {
      via,
      body: Buffer.from(await encoded.arrayBuffer()),
      headers: { 'content-type': encoded.headers.get('content-type')! },
    });
    expect(expectProblem(answer, 400, 'invalid_argument').detail).toMatch(/filename/);
    const stat = await call(daemon, 'GET', `${base}/files/stat?path=${q('/etc/evil')}`, { via });
    expectProblem(stat, 404, 'not_found');
  });

  it('lists, stats, makes directories, renames and removes', async () => {
    const list = await ok<{ path: string; entries: FileInfo[] }>(daemon, 'GET', `${base}/files?path=${q(root)}`, { via });
    expect(list.path).toBe(root);
    expect(list.entries.map((e) => [e.name, e.type]).sort()).toEqual([
      ['a.txt', 'file'],
      ['b.bin', 'file'],
      ['sub', 'dir'],
    ]);

    const stat = await ok<FileInfo>(daemon, 'GET', `${base}/files/stat?path=${q(`${root}/a.txt`)}`, { via });
    expect(stat).toMatchObject({ name: 'a.txt', path: `${root}/a.txt`, type: 'file', size: 6 });
    expect(Date.parse(stat.mtime)).not.toBeNaN();

    const made = await ok<FileInfo>(daemon, 'POST', `${base}/files/mkdir`, { via, json: { path: `${root}/x/y/z`, parents: true, mode: 0o750 } });
    expect(made).toMatchObject({ path: `${root}/x/y/z`, type: 'dir', mode: 0o750 });
    expectProblem(await call(daemon, 'POST', `${base}/files/mkdir`, { via, json: { path: `${root}/p/q` } }), 404, 'not_found');

    const renamed = await ok<FileInfo>(daemon, 'POST', `${base}/files/rename`, { via, json: { from: `${root}/a.txt`, to: `${root}/x/moved.txt` } });
    expect(renamed).toMatchObject({ path: `${root}/x/moved.txt`, type: 'file', size: 6 });
    expectProblem(await call(daemon, 'GET', `${base}/files/stat?path=${q(`${root}/a.txt`)}`, { via }), 404, 'not_found');

    expectProblem(await call(daemon, 'DELETE', `${base}/files?path=${q(`${root}/x`)}`, { via }), 409, 'not_empty');
    expect((await call(daemon, 'DELETE', `${base}/files?path=${q(`${root}/x`)}&recursive=true`, { via })).status).toBe(204);
    expectProblem(await call(daemon, 'GET', `${base}/files/stat?path=${q(`${root}/x`)}`, { via }), 404, 'not_found');
  });

  it('uploads one file with mode and missing parents, and refuses to download a directory', async () => {
    const put = await ok<{ size: number }>(daemon, 'PUT', `${base}/files/content?path=${q(`${root}/new/deep/run.sh`)}&mode=${0o755}&mkdirs=true`, {
      via,
      body: '#!/bin/sh\necho ran\n',
    });
    expect(put.size).toBe(19);
    expect(await ok(daemon, 'POST', `${base}/exec`, { via, json: { argv: [`${root}/new/deep/run.sh`] } })).toMatchObject({ exitCode: 0, stdout: 'ran\n' });
    expectProblem(await call(daemon, 'PUT', `${base}/files/content?path=${q(`${root}/absent/f`)}`, { via, body: 'x' }), 404, 'not_found');
    expectProblem(await call(daemon, 'GET', `${base}/files/content?path=${q(root)}`, { via }), 409, 'is_directory');
    expectProblem(await call(daemon, 'GET', `${base}/files/content?path=${q(`${root}/nothing`)}`, { via }), 404, 'not_found');
    expect((await call(daemon, 'DELETE', `${base}/files?path=${q(root)}&recursive=true`, { via })).status).toBe(204);
  });
});

describe('path validation', () => {
  it.each([
    ['GET', 'files/stat?path=relative/path'],
    ['GET', 'files?path=tmp'],
    ['GET', 'files/content?path=..%2Fetc'],
    ['PUT', 'files/content?path=x.txt'],
    ['DELETE', 'files?path=tmp'],
  ])('%s %s is refused as 400 invalid_argument naming path', async (method, rest) => {
    const answer = await call(daemon, method, `${base}/${rest}`, { body: method === 'PUT' ? 'x' : undefined });
    expect(expectProblem(answer, 400, 'invalid_argument').detail).toMatch(/\bpath\b/);
  });

  it('refuses a missing path and relative paths in JSON bodies, naming the field', async () => {
    expect(expectProblem(await call(daemon, 'GET', `${base}/files/stat`), 400, 'invalid_argument').detail).toMatch(/\bpath\b/);
    expect(expectProblem(await call(daemon, 'POST', `${base}/files/mkdir`, { json: { path: 'rel' } }), 400, 'invalid_argument').detail).toMatch(/\bpath\b/);
    expect(expectProblem(await call(daemon, 'POST', `${base}/files/rename`, { json: { from: '/tmp', to: 'rel' } }), 400, 'invalid_argument').detail).toMatch(/\bto\b/);
  });
});
