import type { IncomingMessage } from 'node:http';
import { Readable, Transform } from 'node:stream';
import type { FileInfo, FileList, WrittenFile } from '../shared/api/file-schemas.js';
import { readBytes } from './api-transport.js';
import type { MicrovmClient } from './microvm-client.js';
import { MicrovmError } from './microvm-error.js';

export interface WriteOptions {
  /** Permission bits of a new file, e.g. 0o755. */
  mode?: number;
  /** Create missing parent directories. */
  mkdirs?: boolean;
  /** Called as the body is sent, with the bytes sent so far. */
  onProgress?: (sentBytes: number) => void;
}

/** A sandbox's files, by absolute guest path; contents stream both ways. */
export class SandboxFiles {
  constructor(
    private readonly client: MicrovmClient,
    private readonly sandboxId: () => string,
  ) {}

  /** Writes a whole file atomically (it appears complete or not at all). */
  async write(path: string, data: string | Buffer | Uint8Array | Readable, options: WriteOptions = {}): Promise<WrittenFile> {
    let body: Readable | Buffer;
    if (data instanceof Readable) body = data;
    else if (typeof data === 'string') body = Buffer.from(data);
    else if (data instanceof Uint8Array) body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else throw new MicrovmError('invalid_argument', `data: expected a string, Buffer, Uint8Array or Readable for ${path}`);
    if (options.onProgress) body = withProgress(body, options.onProgress);
    return this.client.request<WrittenFile>('PUT', this.route('/files/content'), {
      query: { path, mode: options.mode, mkdirs: options.mkdirs },
      body,
    });
  }

  /** A file's content: text (UTF-8) by default, or { format: 'bytes' } / { format: 'stream' }. */
  read(path: string): Promise<string>;
  read(path: string, options: { format: 'text' }): Promise<string>;
  read(path: string, options: { format: 'bytes' }): Promise<Buffer>;
  read(path: string, options: { format: 'stream' }): Promise<Readable>;
  async read(path: string, options: { format?: 'text' | 'bytes' | 'stream' } = {}): Promise<string | Buffer | Readable> {
    const response: IncomingMessage = await this.client.stream('GET', this.route('/files/content'), { query: { path } });
    if (options.format === 'stream') return response;
    const bytes = await readBytes(response);
    return options.format === 'bytes' ? bytes : bytes.toString('utf8');
  }

  async list(path: string): Promise<FileInfo[]> {
    return (await this.client.request<FileList>('GET', this.route('/files'), { query: { path } })).entries;
  }

  /** Symlinks are not followed. */
  stat(path: string): Promise<FileInfo> {
    return this.client.request('GET', this.route('/files/stat'), { query: { path } });
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (error) {
      if (error instanceof MicrovmError && error.code === 'not_found') return false;
      throw error;
    }
  }

  mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Promise<FileInfo> {
    return this.client.request('POST', this.route('/files/mkdir'), { json: { path, ...options } });
  }

  /** A non-empty directory needs { recursive: true }. */
  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.client.request('DELETE', this.route('/files'), { query: { path, recursive: options.recursive } });
  }

  rename(from: string, to: string): Promise<FileInfo> {
    return this.client.request('POST', this.route('/files/rename'), { json: { from, to } });
  }

  private route(suffix: string): string {
    return `/sandboxes/${encodeURIComponent(this.sandboxId())}${suffix}`;
  }
}

function withProgress(body: Readable | Buffer, onProgress: (sentBytes: number) => void): Readable {
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      onProgress(sent);
      done(null, chunk);
    },
  });
  const source = Buffer.isBuffer(body) ? Readable.from(chunks(body)) : body;
  source.on('error', (error) => counter.destroy(error));
  return source.pipe(counter);
}

/** A Buffer as 256 KiB pieces, so progress moves while a large one is sent. */
function* chunks(buffer: Buffer): Generator<Buffer> {
  const size = 256 * 1024;
  for (let offset = 0; offset < buffer.length; offset += size) yield buffer.subarray(offset, offset + size);
}
