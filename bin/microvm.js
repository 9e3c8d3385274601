#!/usr/bin/env node
// The `microvm` command: the CLI runs from its TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/main/cli/microvm.ts');
