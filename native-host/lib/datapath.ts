// Registers the gateway as wasmvsd's 'gateway' data path (loaded by
// sdk/control/datapath.ts when the daemon runs in gateway mode).
import { registerDataPath, type DataPathContext, type DataPath } from '../../sdk/control/datapath.js';
import type { Director } from '../../sdk/src/director.js';
import { Gateway, parseGatewayArgs } from './gateway.js';

class DaemonGateway implements DataPath {
  readonly name = 'gateway';
  readonly gateway: Gateway;
  private readonly onUsr1 = () => this.ctx.log(this.gateway.summary());

  constructor(private readonly ctx: DataPathContext) {
    this.gateway = new Gateway(parseGatewayArgs(ctx.args ?? []), ctx.log);
  }

  async start(director: Director): Promise<void> {
    await this.gateway.start(director);
    // kill -USR1: one line of counters in the daemon's log.
    process.on('SIGUSR1', this.onUsr1);
  }

  configChanged(): void {
    this.gateway.configChanged();
  }

  async stop(): Promise<void> {
    process.off('SIGUSR1', this.onUsr1);
    await this.gateway.stop();
  }
}

registerDataPath('gateway', (ctx) => new DaemonGateway(ctx));
