#!/usr/bin/env node
import { runMain } from '../dist/sdk/cli/wasmvsadm.js';
await runMain();
