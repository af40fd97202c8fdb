#!/usr/bin/env node
import { runMain } from '../dist/sdk/cli/wasmvsd.js';
await runMain();
