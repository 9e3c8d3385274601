// Layer rules live here so nobody has to remember them:
//   core (src/main/core)  -> no electron, no renderer, no front doors
//   front doors (src/main/{cli,api,mcp,electron}) -> call the core, never each other's internals
//   renderer (src/renderer) -> only the typed contract in src/shared, no Node, no electron
//   preload -> electron's contextBridge and src/shared only
//   sdk (src/sdk) -> a client of the daemon's API: src/shared and the app's paths, nothing else of the app
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const restrict = (patterns, paths = []) => ({
  'no-restricted-imports': ['error', { patterns, paths }],
});

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'guest-agent/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/main/core/**/*.ts'],
    rules: restrict([
      { group: ['electron', 'electron/*'], message: 'The core never imports electron.' },
      { group: ['**/renderer/**'], message: 'The core never imports the renderer.' },
      { group: ['**/cli/**', '**/api/**', '!**/shared/api/**', '**/mcp/**', '**/electron/**'], message: 'The core never imports a front door.' },
    ]),
  },
  {
    files: ['src/main/cli/**/*.ts', 'src/main/api/**/*.ts', 'src/main/mcp/**/*.ts'],
    rules: restrict([
      { group: ['electron', 'electron/*'], message: 'Only the Electron shell imports electron.' },
      { group: ['**/renderer/**'], message: 'Front doors do not import the renderer.' },
    ]),
  },
  {
    files: ['src/renderer/**/*.{ts,tsx}'],
    rules: restrict(
      [
        { group: ['electron', 'electron/*'], message: 'The renderer sees only window.api.' },
        { group: ['**/main/**', '**/preload/**'], message: 'The renderer sees only the contract in src/shared.' },
      ],
      nodeBuiltins.map((name) => ({ name, message: 'The renderer runs without Node.' })),
    ),
  },
  {
    files: ['src/sdk/**/*.ts'],
    rules: restrict([
      { group: ['electron', 'electron/*'], message: 'The SDK is a plain Node client.' },
      // gitignore semantics: a file is re-included only once every excluded parent directory is.
      { group: ['**/main/**', '!**/main/core', '!**/main/core/paths', '!**/main/core/paths/app-paths.js', '**/renderer/**', '**/preload/**'], message: 'The SDK talks to the daemon over the API; it shares only src/shared and app-paths.' },
    ]),
  },
  {
    files: ['src/preload/**/*.ts'],
    rules: restrict([
      { group: ['**/main/**', '**/renderer/**'], message: 'The preload exposes only the contract in src/shared.' },
    ]),
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: restrict(
      [{ group: ['electron', '**/main/**', '**/renderer/**', '**/preload/**', '**/sdk/**'], message: 'src/shared is the contract: it depends on nothing but typebox.' }],
      nodeBuiltins.map((name) => ({ name, message: 'src/shared is loaded by the renderer too.' })),
    ),
  },
);
