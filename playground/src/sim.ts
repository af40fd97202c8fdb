// The traffic simulator: a seeded arrival process driving the real core.
// Simulated time is `now` for every core call, so timeouts, persistence and
// rates behave as in IPVS. Pure: runs the same in Node and in the browser.
import { Director } from '../../sdk/director.js';
import type { WasmSource, CoreFlavor } from '../../sdk/core/load.js';
import type { Scenario } from './scenario.js';
import { mulberry32, exponential, pareto } from './rng.js';
import { IpvsadmConsole } from './console.js';

export interface DestSample {
  key: string;
  weight: number;
  active: number;
  inactive: number;
  decisions: number;
  cps: number;
}

export interface Sample { t: number; dests: DestSample[]; failures: number }

export interface Disruption { at: number; service: string; moved: number; ideal: number; slots: number }

interface Pending { end: number; id: number }

/** Binary min-heap of connection end times (ties by id, so order is deterministic). */
class EndQueue {
  private readonly a: Pending[] = [];
  get size(): number { return this.a.length; }
  peek(): Pending | undefined { return this.a[0]; }
  private less(i: number, j: number): boolean {
    const x = this.a[i], y = this.a[j];
    return x.end < y.end || (x.end === y.end && x.id < y.id);
  }
  push(p: Pending): void {
    const a = this.a;
    a.push(p);
    for (let i = a.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }
  pop(): Pending | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

export class Simulation {
  readonly console: IpvsadmConsole;
  readonly samples: Sample[] = [];
  readonly disruptions: Disruption[] = [];
  readonly decisions = new Map<string, number>();
  failures = 0;
  /** Simulated seconds elapsed. */
  t = 0;
  private nextArrival = 0;
  private readonly rand: () => number;
  private readonly ends = new EndQueue();
  private eventIndex = 0;
  private readonly events: Scenario['events'];

  constructor(readonly director: Director, readonly scenario: Scenario) {
    this.console = new IpvsadmConsole(director);
    this.rand = mulberry32(scenario.seed ^ 0x9e3779b9);
    this.events = [...scenario.events].sort((a, b) => a.at - b.at);
    this.nextArrival = exponential(this.rand, 1 / Math.max(scenario.traffic.rate, 1e-9));
  }

  /** Apply the scenario's configuration; returns the console errors, if any. */
  async configure(): Promise<string[]> {
    const errors: string[] = [];
    for (const line of this.scenario.config) {
      const r = await this.console.run(line);
      if (r.code !== 0) errors.push(`${line}: ${r.err.trim()}`);
    }
    return errors;
  }

  private duration(): number {
    const d = this.scenario.traffic.duration;
    if (d.kind === 'fixed') return d.mean;
    return d.kind === 'exp' ? exponential(this.rand, d.mean) : pareto(this.rand, d.mean);
  }

  private firstService(): { protocol: 'tcp' | 'udp'; address: string; port: number } | null {
    const proto = this.scenario.traffic.protocol;
    const s = this.director.services().find((x) => x.protocol === proto && x.address !== null);
    return s ? { protocol: proto, address: s.address!, port: s.port } : null;
  }

  private arrive(at: number): void {
    const svc = this.firstService();
    if (!svc) {
      this.failures++;
      return;
    }
    const n = Math.floor(this.rand() * this.scenario.traffic.clients);
    const client = `198.18.${128 + ((n >> 8) & 127)}.${n & 255}`;
    const cport = 1024 + Math.floor(this.rand() * 64000);
    const now = Math.floor(at);
    const c = this.director.schedule({ protocol: svc.protocol, client: { address: client, port: cport }, virtual: { address: svc.address, port: svc.port }, now });
    if (!c) {
      this.failures++;
      return;
    }
    const key = `${c.dest.address}:${c.dest.port}`;
    this.decisions.set(key, (this.decisions.get(key) ?? 0) + 1);
    if (svc.protocol === 'tcp' && c.id !== 0) {
      this.director.connEvent(c.id, 'established', now);
      this.ends.push({ end: at + this.duration(), id: c.id });
    }
  }

  private finish(p: Pending): void {
    const now = Math.floor(p.end);
    if (this.director.connection(p.id, now) === null) return;
    this.director.connEvent(p.id, 'client-fin', now);
    this.director.connEvent(p.id, 'server-fin', now);
    this.director.connEvent(p.id, 'close', now);
  }

  private async runEventsUntil(t: number): Promise<void> {
    while (this.eventIndex < this.events.length && this.events[this.eventIndex].at <= t) {
      const e = this.events[this.eventIndex++];
      const before = this.tables();
      await this.console.run(e.cmd);
      this.recordDisruption(e.at, before);
    }
  }

  /** Hash tables of dh/sh/mh services, for counting moved flows. */
  private tables(): Map<string, number[]> {
    const m = new Map<string, number[]>();
    for (const s of this.director.services()) {
      if (!['dh', 'sh', 'mh'].includes(String(s.scheduler))) continue;
      const key = s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port };
      m.set(`${s.protocol ?? 'fwm'}:${s.address ?? s.fwmark}:${s.port}`, this.director.schedTable(key));
    }
    return m;
  }

  private recordDisruption(at: number, before: Map<string, number[]>): void {
    for (const [name, after] of this.tables()) {
      const old = before.get(name);
      if (!old || old.length !== after.length) continue;
      let moved = 0;
      const oldDests = new Set(old), newDests = new Set(after);
      let ideal = 0;
      for (let i = 0; i < old.length; i++) {
        if (old[i] !== after[i]) moved++;
        // Ideal: only slots whose dest left (or slots a newcomer must take) move.
        if (!newDests.has(old[i])) ideal++;
      }
      const added = [...newDests].filter((d) => !oldDests.has(d)).length;
      if (added > 0) ideal += Math.round((old.length * added) / newDests.size);
      this.disruptions.push({ at, service: name, moved, ideal, slots: old.length });
    }
  }

  /** Advance simulated time by `seconds` whole seconds, sampling once per second. */
  async step(seconds = 1): Promise<void> {
    for (let k = 0; k < seconds; k++) {
      const until = this.t + 1;
      await this.runEventsUntil(this.t);
      for (;;) {
        const nextEnd = this.ends.peek();
        const arrival = this.nextArrival;
        if (nextEnd && nextEnd.end < until && nextEnd.end <= arrival) {
          this.finish(this.ends.pop()!);
        } else if (arrival < until) {
          this.arrive(arrival);
          this.nextArrival = arrival + exponential(this.rand, 1 / Math.max(this.scenario.traffic.rate, 1e-9));
        } else break;
      }
      this.t = until;
      this.director.advance(this.t);
      this.sample();
    }
  }

  private sample(): void {
    const svc = this.firstService();
    const dests: DestSample[] = [];
    if (svc) {
      for (const d of this.director.dests(svc)) {
        const key = `${d.address}:${d.port}`;
        dests.push({ key, weight: d.weight, active: d.activeconns, inactive: d.inactconns, decisions: this.decisions.get(key) ?? 0, cps: d.rates.cps });
      }
      dests.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    this.samples.push({ t: this.t, dests, failures: this.failures });
  }

  /** Run the whole scenario (scenario.seconds). */
  async runToEnd(): Promise<void> {
    await this.step(Math.max(0, this.scenario.seconds - this.t));
  }
}

/** A Director and a Simulation wired the same way in the page and in Node tests. */
export async function createSimulation(scenario: Scenario, opts: { wasm?: WasmSource; flavor?: CoreFlavor } = {}): Promise<Simulation> {
  let sim: Simulation | undefined;
  const director = await Director.create({ seed: scenario.seed, wasm: opts.wasm, flavor: opts.flavor, clock: () => sim?.t ?? 0 });
  sim = new Simulation(director, scenario);
  return sim;
}
