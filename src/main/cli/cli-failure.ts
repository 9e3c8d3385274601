import { SandboxError } from '../core/errors/sandbox-error.js';

/** How every CLI command reports a failure: the stable code, the message, exit status 1. */
export function exitWithError(error: unknown): never {
  const code = error instanceof SandboxError ? error.code : 'internal';
  process.stderr.write(`error [${code}]: ${(error as Error).message}\n`);
  process.exit(1);
}
