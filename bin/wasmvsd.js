#!/usr/bin/env node
import { runMain } from '../dist/daemon/wasmvsd.js';
await runMain();
