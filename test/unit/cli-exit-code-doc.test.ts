import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import { ERROR_CODES } from '../../src/shared/error-codes.js';

const START = '<!-- exit-codes:start -->';
const END = '<!-- exit-codes:end -->';

it("docs/cli.md's exit-status table is the error-code table, row for row", () => {
  const doc = readFileSync(join(projectRoot(), 'docs', 'cli.md'), 'utf8');
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  expect(start, `docs/cli.md has no ${START} marker`).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  const documented = doc.slice(start + START.length, end).trim();
  const expected = [
    '| code | exit | HTTP | title |',
    '| --- | --- | --- | --- |',
    ...Object.entries(ERROR_CODES).map(([code, info]) => `| \`${code}\` | ${info.exit} | ${info.status} | ${info.title} |`),
  ].join('\n');
  // On failure the diff shows the rows to paste between the markers.
  expect(documented).toBe(expected);
});
