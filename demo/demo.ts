// `npm start`: the built-in demo (demo/proxy-demo.ts). WASMVS_DEMO_ONCE=1 runs
// a few requests through the VIP, prints the table and exits 0.
import { runDemo } from './proxy-demo.js';

runDemo().then((code) => process.exit(code), (e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
