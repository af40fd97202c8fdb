// What wasmvsd tells a user whose installation lacks an optional part, phrased
// for where wasmvs is installed: this repository, a project's node_modules, or
// a global prefix. Pure path logic; the daemon prints the result.
import { basename, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, from dist/daemon/ (compiled) or daemon/ (sources). */
export function packageRoot(here: string = fileURLToPath(import.meta.url)): string {
  const up = dirname(dirname(here));
  return basename(up) === 'dist' ? dirname(up) : up;
}

/** `where` prefixes the command: '' when it runs from the current directory. */
function inProject(root: string, cwd: string, command: (explore: string) => string): string {
  if (basename(dirname(root)) !== 'node_modules') return command('');
  const project = dirname(dirname(root));
  if (basename(project) === 'lib' || basename(project) === 'node') return command('npm explore -g wasmvs -- ');
  const rel = relative(cwd, project);
  return `${rel ? `cd ${rel} && ` : ''}${command('npm explore wasmvs -- ')}`;
}

/** The command that builds the gateway addon where this wasmvs is installed. */
export function buildNativeCommand(root = packageRoot(), cwd = process.cwd()): string {
  return inProject(root, cwd, (explore) => `${explore}npm run build:native`);
}

/** The command that installs the proxy's optional peer dependencies next to this wasmvs. */
export function installPeersCommand(root = packageRoot(), cwd = process.cwd()): string {
  if (basename(dirname(root)) !== 'node_modules') return 'npm install';
  const project = dirname(dirname(root));
  const global = basename(project) === 'lib' || basename(project) === 'node';
  const rel = relative(cwd, project);
  return `${!global && rel ? `cd ${rel} && ` : ''}npm install ${global ? '-g ' : ''}pino@^10 prom-client@^15`;
}

const PEER = /Cannot find package '(pino|prom-client)'/;

/**
 * A clearer error for the two failures users meet after `npm install wasmvs`:
 * the proxy's peer dependencies not installed, the gateway addon not built.
 * Returns null for any other error.
 */
export function explainStartError(e: unknown, mode: string): string | null {
  const msg = e instanceof Error ? e.message : String(e);
  if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && PEER.test(msg)) {
    return `wasmvsd ${mode} needs pino and prom-client, optional peer dependencies of wasmvs that the SDK alone ` +
      `does not need; install them: ${installPeersCommand()}`;
  }
  if (msg.includes('addon is not built')) {
    // Node's require stack says nothing the user can act on.
    return msg.replace('`npm run build:native`', `\`${buildNativeCommand()}\``).replace(/\nRequire stack:[^]*\)$/, ')');
  }
  return null;
}
