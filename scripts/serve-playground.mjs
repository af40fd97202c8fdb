// Serves playground/dist on localhost (static files only) and prints the address.
// Usage: node scripts/serve-playground.mjs [PORT | --port PORT]   (default 5173; 0 = any free port)
//        npm run playground -- --port 8080
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../playground/dist');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

export function servePlayground(port = 0, host = '127.0.0.1') {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dist, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dist)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** The port from argv: `PORT` or `--port PORT` / `--port=PORT`; null when it is not a port. */
export function portArg(argv, fallback = 5173) {
  const i = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  const raw = i < 0 ? argv[0] : argv[i].includes('=') ? argv[i].slice(7) : argv[i + 1];
  if (raw === undefined) return fallback;
  return /^\d+$/.test(raw) && Number(raw) <= 65535 ? Number(raw) : null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const want = portArg(process.argv.slice(2));
  if (want === null) {
    console.error('serve-playground: the port must be a number 0..65535 (usage: npm run playground -- --port 8080)');
    process.exit(2);
  }
  try {
    const server = await servePlayground(want);
    const { port } = server.address();
    console.log(`wasmvs playground: http://127.0.0.1:${port}/  (Ctrl-C to stop)`);
  } catch (e) {
    if (e.code === 'EADDRINUSE') {
      console.error(`serve-playground: port ${want} is in use; choose another: npm run playground -- --port 8080 (0 picks a free one)`);
    } else {
      console.error(`serve-playground: cannot listen on 127.0.0.1:${want}: ${e.message}`);
    }
    process.exit(1);
  }
}
