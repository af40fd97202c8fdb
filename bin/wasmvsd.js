#!/usr/bin/env node
import { runMain } from '../dist/cli/wasmvsd.js';
await runMain();
