import { Type, type Static } from 'typebox';

/** Guest paths are absolute paths inside the guest; host paths never appear in the API. */
export const GuestPathSchema = Type.String({ pattern: '^/[^\\u0000]*$', maxLength: 4096, description: 'Absolute path inside the guest' });

export const FileInfoSchema = Type.Object({
  name: Type.String(),
  path: Type.String(),
  type: Type.Union([Type.Literal('file'), Type.Literal('dir'), Type.Literal('symlink'), Type.Literal('other')]),
  size: Type.Integer(),
  mode: Type.Integer({ description: 'Permission bits' }),
  mtime: Type.String({ format: 'date-time' }),
  linkTarget: Type.Optional(Type.String()),
});
export type FileInfo = Static<typeof FileInfoSchema>;

export const FileListSchema = Type.Object({ path: Type.String(), entries: Type.Array(FileInfoSchema) });
export type FileList = Static<typeof FileListSchema>;

export const PathQuerySchema = Type.Object({ path: GuestPathSchema });
export type PathQuery = Static<typeof PathQuerySchema>;

export const DownloadQuerySchema = Type.Object({
  path: GuestPathSchema,
  download: Type.Optional(Type.Boolean({ description: 'Answer with Content-Disposition: attachment, so a browser saves the file under its name' })),
});
export type DownloadQuery = Static<typeof DownloadQuerySchema>;

export const WriteFileQuerySchema = Type.Object({
  path: GuestPathSchema,
  mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777, description: 'Permission bits of a new file (decimal)' })),
  mkdirs: Type.Optional(Type.Boolean({ description: 'Create missing parent directories' })),
});
export type WriteFileQuery = Static<typeof WriteFileQuerySchema>;

export const WrittenFileSchema = Type.Object({ path: Type.String(), size: Type.Integer(), sha256: Type.String() });
export type WrittenFile = Static<typeof WrittenFileSchema>;

export const UploadQuerySchema = Type.Object({ path: GuestPathSchema });
export const UploadResultSchema = Type.Object({ files: Type.Array(WrittenFileSchema) });
export type UploadResult = Static<typeof UploadResultSchema>;

export const RemoveQuerySchema = Type.Object({ path: GuestPathSchema, recursive: Type.Optional(Type.Boolean()) });
export type RemoveQuery = Static<typeof RemoveQuerySchema>;

export const MkdirBodySchema = Type.Object(
  { path: GuestPathSchema, parents: Type.Optional(Type.Boolean()), mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })) },
  { additionalProperties: false },
);
export type MkdirBody = Static<typeof MkdirBodySchema>;

export const RenameBodySchema = Type.Object({ from: GuestPathSchema, to: GuestPathSchema }, { additionalProperties: false });
export type RenameBody = Static<typeof RenameBodySchema>;

export const LogsQuerySchema = Type.Object({
  tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'Only the last N lines' })),
  follow: Type.Optional(Type.Boolean({ description: 'Keep the response open and stream new output' })),
});
export type LogsQuery = Static<typeof LogsQuerySchema>;
