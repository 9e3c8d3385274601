import { AppError } from '../../shared/app-contract.js';
import { MicrovmError } from '../../sdk/index.js';

/** What the renderer sees of any failure: the SDK's stable code kept, anything else `internal`. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof MicrovmError) return new AppError(error.code, error.message);
  return new AppError('internal', error instanceof Error ? error.message : String(error));
}
