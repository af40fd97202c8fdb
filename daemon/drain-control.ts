// Control-socket drain requests (wasmvsadm --drain) applied to a proxy:
// start (or restart with a new deadline), cancel, or report progress.
import { InvalidOperationError } from '../sdk/errors.js';
import type { DrainRequest, DrainInfo } from '../ipvsadm/protocol.js';
import type { DrainProgress } from './drain.js';
import type { DrainService } from './checks.js';
import type { Endpoint } from '../sdk/types.js';

export function drainInfo(p: DrainProgress, now = Date.now()): DrainInfo {
  return {
    service: p.service, dest: p.dest, status: p.status, open: p.open, activeconns: p.activeconns, inactconns: p.inactconns,
    deadlineIn: p.deadline === null ? null : Math.max(0, Math.ceil((p.deadline - now) / 1000)), forced: p.forced,
  };
}

/** What drains real servers: the proxy, or the gateway's real-server state. */
export interface Drainer {
  drain(svc: DrainService, dest: Endpoint, deadlineS?: number | null): DrainProgress;
  undrain(svc: DrainService, dest: Endpoint): boolean;
  drainProgress(): DrainProgress[];
}

export function drainRequest(proxy: Drainer, req: DrainRequest): DrainInfo[] {
  if (req.op === 'drains') return proxy.drainProgress().map((p) => drainInfo(p));
  const svc = req.svc;
  if (!('protocol' in svc) || (svc.protocol !== 'tcp' && svc.protocol !== 'udp')) {
    throw new InvalidOperationError('only TCP and UDP virtual services can be drained');
  }
  const s = { protocol: svc.protocol, address: svc.address, port: svc.port };
  if (req.cancel) {
    const had = proxy.undrain(s, req.dest);
    return [{
      service: `${s.protocol}|${s.address}|${s.port}`, dest: `${req.dest.address}:${req.dest.port}`, status: had ? 'cancelled' : 'drained',
      open: 0, activeconns: 0, inactconns: 0, deadlineIn: null, forced: false,
    }];
  }
  return [drainInfo(proxy.drain(s, req.dest, req.deadline ?? null))];
}
