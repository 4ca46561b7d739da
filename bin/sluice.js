#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), from any working directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
