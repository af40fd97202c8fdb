// Runs wasmvsadm argv in process against a ControlHandler on a debug-core Director.
import { ControlHandler } from '../../daemon/handler.js';
import { LocalBackend } from '../../daemon/local.js';
import { runArgv } from '../../ipvsadm/run.js';
import { director } from '../helpers.js';

export interface Outcome { code: number; out: string; err: string }

export interface Cli {
  run(argv: readonly string[] | string, stdin?: string): Promise<Outcome>;
  handler: ControlHandler;
}

export async function cli(seed = 1): Promise<Cli> {
  const d = await director(seed);
  const handler = new ControlHandler(d, { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
  const backend = new LocalBackend(handler);
  return {
    handler,
    async run(argv, stdin = '') {
      const words = typeof argv === 'string' ? argv.split(' ').filter((w) => w !== '') : argv;
      let out = '', err = '';
      const code = await runArgv(words, () => backend, {
        program: 'wasmvsadm', out: (t) => { out += t; }, err: (t) => { err += t; }, readStdin: async () => stdin,
      });
      return { code, out, err };
    },
  };
}
