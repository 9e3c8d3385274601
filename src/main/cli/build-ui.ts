import { defaultUiDir } from '../api/browser-ui.js';
import { exitWithError } from './cli-failure.js';
import { buildUi } from './ui-build.js';

// `npm run build:ui`: the renderer that the daemon serves in browser mode.
try {
  const started = Date.now();
  process.stderr.write('Building the UI…\n');
  await buildUi();
  process.stderr.write(`Built the UI into ${defaultUiDir()} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
} catch (error) {
  exitWithError(error);
}
