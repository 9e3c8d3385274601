import { errorCodeInfo, type ErrorCode } from '../../shared/error-codes.js';

/** A failure the CLI finds itself, with one of the stable codes (and so its exit status). */
export class CliError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A command line that cannot mean anything: reported like the API's invalid_argument (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

/** The stable error code an error carries (SandboxError, MicrovmError, UsageError), or `internal`. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'internal';
}

/**
 * How every CLI command reports a failure: `error: <message>` on stderr, never a stack
 * trace, and the exit status the error-code table gives the code.
 */
export function exitWithError(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exit(errorCodeInfo(errorCode(error)).exit);
}
