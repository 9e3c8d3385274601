import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DownloadQuerySchema,
  FileListSchema,
  FileInfoSchema,
  MkdirBodySchema,
  PathQuerySchema,
  RemoveQuerySchema,
  RenameBodySchema,
  UploadQuerySchema,
  UploadResultSchema,
  WriteFileQuerySchema,
  WrittenFileSchema,
  type FileInfo,
} from '../../../shared/api/file-schemas.js';
import { ByteStreamSchema, ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema } from '../../../shared/api/sandbox-schemas.js';
import type { FileInfo as AgentFileInfo } from '../../core/agent/agent-types.js';
import { SandboxError } from '../../core/errors/sandbox-error.js';
import type { ApiApp, ApiServices } from '../api-context.js';

const tags = ['files'];
const errors = { 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema };

/**
 * Guest files, streamed both ways through the agent: bodies are never buffered whole, so
 * the daemon's memory stays bounded whatever the size. Paths are absolute guest paths.
 */
export function registerFileRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.register(async (scope) => {
    const files = scope as ApiApp;
    // Raw uploads reach the handler as the request stream itself, of any type and size.
    files.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    files.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    files.put(
      '/sandboxes/:id/files/content',
      {
        schema: {
          tags,
          summary: 'Upload one file from the raw request body (streamed, atomic: the file appears complete or not at all)',
          params: SandboxParamsSchema,
          querystring: WriteFileQuerySchema,
          response: { 200: WrittenFileSchema, ...errors },
        },
        bodyLimit: Number.MAX_SAFE_INTEGER,
      },
      async (request) => {
        const agent = await manager.agent(request.params.id);
        const { path, mode, mkdirs } = request.query;
        const body = (request.body as Readable | undefined) ?? Buffer.alloc(0);
        const written = await agent.writeFile(path, body, { mode, mkdirs });
        return { path, size: written.size, sha256: written.sha256 };
      },
    );
  });

  app.post(
    '/sandboxes/:id/files/upload',
    {
      schema: {
        tags,
        summary: 'Upload files as multipart/form-data into a guest directory; a part\'s filename may hold a relative path (folders)',
        params: SandboxParamsSchema,
        querystring: UploadQuerySchema,
        response: { 200: UploadResultSchema, ...errors },
      },
    },
    async (request) => {
      if (!request.isMultipart()) throw new SandboxError('invalid_argument', 'body: expected multipart/form-data with file parts');
      const agent = await manager.agent(request.params.id);
      const written = [];
      for await (const part of request.files()) {
        const path = uploadTarget(request.query.path, part.filename);
        const result = await agent.writeFile(path, part.file, { mkdirs: true });
        if (part.file.truncated) throw new SandboxError('payload_too_large', `${part.filename}: larger than the upload limit`);
        written.push({ path, size: result.size, sha256: result.sha256 });
      }
      return { files: written };
    },
  );

  app.get(
    '/sandboxes/:id/files/content',
    {
      schema: {
        tags,
        summary: 'Download a file (streamed); download=true makes a browser save it',
        params: SandboxParamsSchema,
        querystring: DownloadQuerySchema,
        response: { 200: ByteStreamSchema, 404: ProblemSchema, 409: ProblemSchema },
      },
    },
    async (request, reply) => {
      const agent = await manager.agent(request.params.id);
      const info = await agent.stat(request.query.path);
      if (info.type !== 'file') throw new SandboxError('is_directory', `${request.query.path} is a ${info.type === 'dir' ? 'directory' : info.type}, not a regular file`);
      reply.type('application/octet-stream').header('content-length', info.size);
      if (request.query.download) reply.header('content-disposition', attachment(info.name));
      return reply.send(agent.readFile(request.query.path));
    },
  );

  app.get(
    '/sandboxes/:id/files',
    { schema: { tags, summary: 'List a directory', params: SandboxParamsSchema, querystring: PathQuerySchema, response: { 200: FileListSchema, ...errors } } },
    async (request) => {
      const agent = await manager.agent(request.params.id);
      return { path: request.query.path, entries: (await agent.list(request.query.path)).map(fileView) };
    },
  );

  app.get(
    '/sandboxes/:id/files/stat',
    { schema: { tags, summary: 'Stat a path (symlinks are not followed)', params: SandboxParamsSchema, querystring: PathQuerySchema, response: { 200: FileInfoSchema, ...errors } } },
    async (request) => fileView(await (await manager.agent(request.params.id)).stat(request.query.path)),
  );

  app.post(
    '/sandboxes/:id/files/mkdir',
    { schema: { tags, summary: 'Create a directory', params: SandboxParamsSchema, body: MkdirBodySchema, response: { 200: FileInfoSchema, ...errors } } },
    async (request) => {
      const { path, parents, mode } = request.body;
      return fileView(await (await manager.agent(request.params.id)).mkdir(path, { parents, mode }));
    },
  );

  app.delete(
    '/sandboxes/:id/files',
    { schema: { tags, summary: 'Remove a file, or a directory (recursive=true for a non-empty one)', params: SandboxParamsSchema, querystring: RemoveQuerySchema, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await (await manager.agent(request.params.id)).remove(request.query.path, { recursive: request.query.recursive });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/sandboxes/:id/files/rename',
    { schema: { tags, summary: 'Rename or move a path', params: SandboxParamsSchema, body: RenameBodySchema, response: { 200: FileInfoSchema, ...errors } } },
    async (request) => fileView(await (await manager.agent(request.params.id)).rename(request.body.from, request.body.to)),
  );
}

/** RFC 6266 with the RFC 8187 encoding, which leaves fewer characters bare than encodeURIComponent does. */
function attachment(name: string): string {
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename*=UTF-8''${encoded}`;
}

function fileView(info: AgentFileInfo): FileInfo {
  return {
    name: info.name,
    path: info.path,
    type: info.type,
    size: info.size,
    mode: info.mode,
    mtime: new Date(info.mtimeMs).toISOString(),
    ...(info.linkTarget === undefined ? {} : { linkTarget: info.linkTarget }),
  };
}

/** Where an uploaded part lands: its (possibly nested) relative name under the target directory, never outside it. */
function uploadTarget(dir: string, filename: string): string {
  const relative = posix.normalize(filename.replaceAll('\\', '/'));
  if (!filename || relative.startsWith('../') || relative === '..' || posix.isAbsolute(relative)) {
    throw new SandboxError('invalid_argument', `filename: "${filename}" must be a relative path inside the target directory`, { field: 'filename' });
  }
  return posix.join(dir, relative);
}
