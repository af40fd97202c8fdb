#!/usr/bin/env node
// The bundled CLI (scripts/bundle-cli.mjs) starts faster; it is used only
// while it is at least as new as the compiled modules it was built from.
import { statSync } from 'node:fs';

const bundle = new URL('../dist/bundle/wasmvsadm.mjs', import.meta.url);
const modules = new URL('../dist/cli/wasmvsadm.js', import.meta.url);
let entry = modules;
try {
  if (statSync(bundle).mtimeMs >= statSync(modules).mtimeMs) entry = bundle;
} catch { /* no bundle (or no build): the modules, whose import says what is missing */ }
const { runMain } = await import(entry.href);
await runMain();
