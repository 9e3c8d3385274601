import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';

/** The README's MCP client configurations: each `<!-- mcp-config: NAME -->` marker and the ```json block after it. */
export function readmeMcpConfigs(): Map<string, string> {
  const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
  const configs = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- mcp-config: ([a-z-]+)[^>]*-->[\s\S]*?```json\n([\s\S]*?)```/g)) configs.set(match[1]!, match[2]!);
  return configs;
}

/** A snippet's placeholder path made this checkout's, as a user would edit it. */
export function forThisCheckout(snippet: string): string {
  return snippet.replaceAll('/path/to/microvm-sandbox', projectRoot());
}
