import { APP_CALLS, APP_STREAMS, AppError, type AppCall, type AppStream, type LifecycleAction } from '../../shared/app-contract.js';

/**
 * The argument shapes main accepts for each contract method over IPC. The renderer is
 * trusted to be ours, but a bug there must become a clear error, not a crash of main or a
 * request the daemon misreads. The daemon still validates the contents (names, paths).
 */
interface ArgumentSpec {
  name: string;
  expected: string;
  optional?: boolean;
  accepts(value: unknown): boolean;
}

const LIFECYCLE_ACTIONS: readonly LifecycleAction[] = ['start', 'stop', 'pause', 'resume', 'restart'];

const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isPort = (value: unknown) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65_535;
const isSize = (value: unknown) => Number.isInteger(value) && (value as number) > 0 && (value as number) <= 10_000;

const text = (name: string, optional = false): ArgumentSpec => ({ name, expected: 'a non-empty string', optional, accepts: isText });
const sandboxId = text('id');
const guestPath = text('path');

const CALL_ARGUMENTS = {
  appInfo: [],
  system: [],
  templates: [],
  listSandboxes: [],
  createSandbox: [{ name: 'request', expected: 'an object', accepts: isRecord }],
  sandboxAction: [sandboxId, { name: 'action', expected: `one of ${LIFECYCLE_ACTIONS.join(', ')}`, accepts: (v) => LIFECYCLE_ACTIONS.includes(v as LifecycleAction) }],
  deleteSandbox: [sandboxId],
  usage: [],
  listFiles: [sandboxId, guestPath],
  makeDirectory: [sandboxId, guestPath],
  removePath: [sandboxId, guestPath],
  downloadFile: [sandboxId, guestPath],
  snapshotTree: [sandboxId],
  takeSnapshot: [sandboxId, text('name', true)],
  restoreSnapshot: [sandboxId, text('snapshotId')],
  forkSnapshot: [sandboxId, text('snapshotId'), text('name', true)],
  deleteSnapshot: [sandboxId, text('snapshotId')],
  display: [sandboxId],
  listPorts: [sandboxId],
  addPort: [sandboxId, { name: 'request', expected: 'an object with guestPort a port number', accepts: (v) => isRecord(v) && isPort(v.guestPort) }],
  removePort: [sandboxId, { name: 'hostPort', expected: 'a port number (1-65535)', accepts: isPort }],
} as const satisfies Record<AppCall, readonly ArgumentSpec[]>;

const isTerminalOptions = (value: unknown) =>
  isRecord(value) &&
  isSize(value.cols) &&
  isSize(value.rows) &&
  (value.argv === undefined || (Array.isArray(value.argv) && value.argv.length > 0 && value.argv.every(isText)));

const isUploadItems = (value: unknown) =>
  Array.isArray(value) &&
  value.every((item) => isRecord(item) && isText(item.relativePath) && typeof item.path === 'string' && Number.isInteger(item.size) && (item.size as number) >= 0);

/** Stream arguments without their callbacks, which stay in the preload. */
const STREAM_ARGUMENTS = {
  watchEvents: [],
  openTerminal: [sandboxId, { name: 'options', expected: '{ cols, rows } of whole numbers from 1 to 10000, and argv a list of strings if given', accepts: isTerminalOptions }],
  followConsole: [sandboxId],
  uploadFiles: [sandboxId, text('destDir'), { name: 'items', expected: 'a list of { relativePath, path, size }', accepts: isUploadItems }],
  openDisplay: [sandboxId],
} as const satisfies Record<AppStream, readonly ArgumentSpec[]>;

export function isAppCall(method: unknown): method is AppCall {
  return (APP_CALLS as readonly unknown[]).includes(method);
}

export function isAppStream(method: unknown): method is AppStream {
  return (APP_STREAMS as readonly unknown[]).includes(method);
}

/** Throws AppError invalid_argument naming the method and the first argument that is wrong. */
export function checkCallArguments(method: AppCall, args: unknown[]): void {
  checkArguments(method, CALL_ARGUMENTS[method], args);
}

export function checkStreamArguments(method: AppStream, args: unknown): asserts args is unknown[] {
  if (!Array.isArray(args)) throw new AppError('invalid_argument', `${method}: the arguments must be a list`);
  checkArguments(method, STREAM_ARGUMENTS[method], args);
}

function checkArguments(method: string, specs: readonly ArgumentSpec[], args: unknown[]): void {
  if (args.length > specs.length) {
    throw new AppError('invalid_argument', `${method}: expected at most ${specs.length} argument(s), got ${args.length}`);
  }
  specs.forEach((spec, index) => {
    const value = args[index];
    if (value === undefined && spec.optional) return;
    if (!spec.accepts(value)) {
      throw new AppError('invalid_argument', `${method}: argument ${index + 1} (${spec.name}) must be ${spec.expected}${spec.optional ? ' or omitted' : ''}`);
    }
  });
}
