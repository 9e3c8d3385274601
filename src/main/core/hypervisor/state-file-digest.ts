import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { VmStateFile } from './hypervisor-driver.js';

/** Size and SHA-256 of one file of a saved VM state, as recorded at capture and checked before a restore. */
export async function hashFile(dir: string, name: string): Promise<VmStateFile> {
  const path = join(dir, name);
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return { name, size: (await stat(path)).size, sha256: hash.digest('hex') };
}
