// Scheduler names (IPVS's) and their core ids, and the -b flag names.
import { sched, layout } from './core/abi.gen.js';

export const SCHEDULERS = {
  none: sched.SCHED_NONE, rr: sched.SCHED_RR, wrr: sched.SCHED_WRR, lc: sched.SCHED_LC,
  wlc: sched.SCHED_WLC, sed: sched.SCHED_SED, nq: sched.SCHED_NQ, dh: sched.SCHED_DH,
  sh: sched.SCHED_SH, mh: sched.SCHED_MH, lblc: sched.SCHED_LBLC, lblcr: sched.SCHED_LBLCR,
  fo: sched.SCHED_FO, ovf: sched.SCHED_OVF, twos: sched.SCHED_TWOS,
} as const;
export type SchedulerName = keyof typeof SCHEDULERS;

const byId = new Map<number, SchedulerName>(Object.entries(SCHEDULERS).map(([k, v]) => [v, k as SchedulerName]));

export function schedulerId(name: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(SCHEDULERS, name) ? SCHEDULERS[name as SchedulerName] : undefined;
}
export function schedulerName(id: number): SchedulerName | string {
  return byId.get(id) ?? `#${id}`;
}

export type SchedFlag = 'flag-1' | 'flag-2' | 'flag-3' | 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port';
const FLAG_BITS: Record<SchedFlag, number> = {
  'flag-1': layout.SVC_F_SCHED1, 'flag-2': layout.SVC_F_SCHED2, 'flag-3': layout.SVC_F_SCHED3,
  'sh-fallback': layout.SVC_F_SCHED1, 'sh-port': layout.SVC_F_SCHED2,
  'mh-fallback': layout.SVC_F_SCHED1, 'mh-port': layout.SVC_F_SCHED2,
};
/** Which scheduler a named flag belongs to (flag-N belong to every one). */
export function flagScheduler(f: SchedFlag): string | null {
  return f.startsWith('sh-') ? 'sh' : f.startsWith('mh-') ? 'mh' : null;
}
export function flagBit(f: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(FLAG_BITS, f) ? FLAG_BITS[f as SchedFlag] : undefined;
}
/** Render SCHED1..3 bits as ipvsadm does for this scheduler. */
export function flagNames(scheduler: string, flags: number): SchedFlag[] {
  const names: SchedFlag[] = [];
  const [a, b, c] = scheduler === 'sh' ? ['sh-fallback', 'sh-port', 'flag-3'] as const
    : scheduler === 'mh' ? ['mh-fallback', 'mh-port', 'flag-3'] as const
    : ['flag-1', 'flag-2', 'flag-3'] as const;
  if (flags & layout.SVC_F_SCHED1) names.push(a);
  if (flags & layout.SVC_F_SCHED2) names.push(b);
  if (flags & layout.SVC_F_SCHED3) names.push(c);
  return names;
}
export const MH_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
