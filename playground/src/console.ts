// The ipvsadm console: wasmvsadm's own parser, runner and formatter over an
// in-process backend, so the playground prints exactly what wasmvsadm prints.
import type { Director } from '../../sdk/director.js';
import { coreOf } from '../../sdk/core/index.js';
import { runArgv } from '../../ipvsadm/run.js';
import { LocalBackend } from '../../daemon/local.js';
import { ControlHandler } from '../../daemon/handler.js';

export interface ConsoleResult { code: number; out: string; err: string }

export class IpvsadmConsole {
  private readonly backend: LocalBackend;

  constructor(director: Director) {
    const handler = new ControlHandler(director, {
      size: director.connTabSize(), mode: 'playground', dataPath: 'simulation', abiVersion: coreOf(director).x.abiVersion(),
    });
    this.backend = new LocalBackend(handler);
  }

  /** Run one command line (with or without a leading `ipvsadm`). */
  async run(line: string): Promise<ConsoleResult> {
    const argv = line.trim().split(/[ \t\r\n]+/).filter((t) => t.length > 0);
    if (argv[0] === 'ipvsadm' || argv[0] === 'wasmvsadm') argv.shift();
    let out = '';
    let err = '';
    const code = await runArgv(argv, () => this.backend, {
      out: (t) => (out += t), err: (t) => (err += t), program: 'ipvsadm',
    });
    return { code, out, err };
  }
}
