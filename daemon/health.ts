// Health checks per real server: a TCP connect, optionally a request sent
// and a reply that must contain a string, every `interval` seconds, each
// bounded by `timeout`. `fall` failures in a row mark it down, `rise`
// successes in a row bring it back. The state is kept apart from the admin
// weight, which is never touched: the proxy maps it to the core's DOWN flag.
import { connect } from 'node:net';
import type { Endpoint } from '../sdk/types.js';
import type { HealthSettings } from './settings.js';

export type Transition = (up: boolean, reason: string) => void;

/**
 * Probe failures that say nothing about the real server: this process could
 * not open a socket (out of fds or kernel buffers). Counting them would mark
 * every healthy server down exactly when the daemon is busiest; they are
 * counted apart and change neither run.
 */
export const LOCAL_FAILURES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** One probe: resolves with null on success, or the reason it failed. */
export function probe(dest: Endpoint, s: HealthSettings): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = connect({ host: dest.address, port: s.port ?? dest.port });
    let got = '';
    let done = false;
    const finish = (why: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(`no answer within ${s.timeout}s`), s.timeout * 1000);
    sock.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    sock.once('connect', () => {
      if (s.send !== undefined) sock.write(s.send);
      if (s.expect === undefined) finish(null);
    });
    sock.on('data', (c: Buffer) => {
      got = (got + c.toString('latin1')).slice(-65536);
      if (s.expect !== undefined && got.includes(s.expect)) finish(null);
    });
    sock.once('end', () => finish(s.expect === undefined ? null : `reply did not contain ${JSON.stringify(s.expect)}`));
  });
}

export class HealthCheck {
  up = true;
  private okRun = 0;
  private failRun = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  lastReason = '';
  /** Probes that failed for a local reason (LOCAL_FAILURES), not counted towards rise or fall. */
  inconclusive = 0;
  private inconclusiveRun = 0;

  /** `onInconclusive`: called with the reason at the first local failure of a run of them. */
  constructor(public dest: Endpoint, public settings: HealthSettings, private readonly onTransition: Transition,
    private readonly check: typeof probe = probe, private readonly onInconclusive: (why: string) => void = () => {}) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const why = await this.check(this.dest, this.settings);
    if (this.stopped) return;
    this.record(why);
    this.schedule(this.settings.interval * 1000);
  }

  /** Count one result and fire a transition when a run reaches rise or fall. */
  record(why: string | null): void {
    if (why !== null && LOCAL_FAILURES.has(why)) {
      this.inconclusive++;
      this.lastReason = why;
      if (this.inconclusiveRun++ === 0) this.onInconclusive(why);
      return;
    }
    this.inconclusiveRun = 0;
    if (why === null) {
      this.okRun++;
      this.failRun = 0;
      if (!this.up && this.okRun >= this.settings.rise) {
        this.up = true;
        this.onTransition(true, `${this.okRun} checks passed`);
      }
    } else {
      this.failRun++;
      this.okRun = 0;
      this.lastReason = why;
      if (this.up && this.failRun >= this.settings.fall) {
        this.up = false;
        this.onTransition(false, `${this.failRun} checks failed, last: ${why}`);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
