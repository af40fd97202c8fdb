// Undoing applied configuration commands exactly: before each command runs,
// the command(s) that put back what it changes are taken from the live state;
// undo runs them newest first. What a command did not touch keeps its id,
// counters, connections and scheduler state. Used when an atomic request
// fails part way and when an accepted change cannot be made durable. Pure.
import type { Director } from '../sdk/director.js';
import type { ServiceKey, DestInfo } from '../sdk/types.js';
import { parseAddr, formatAddr } from '../sdk/address.js';
import { PACKED_WORDS, PACKED_OPS, P_OP } from '../sdk/packed.js';
import type { ConfigCmd } from '../ipvsadm/protocol.js';
import { applyCmd, keyOf, optionsOf, destOptionsOf } from '../sdk/commands.js';

function sameAddress(a: string, b: string): boolean {
  const x = parseAddr(a), y = parseAddr(b);
  return !!x && !!y && formatAddr(x.af, x.w[0], x.w[1], x.w[2], x.w[3]) === formatAddr(y.af, y.w[0], y.w[1], y.w[2], y.w[3]);
}

function findDest(d: Director, svc: ServiceKey, dest: { address: string; port?: number }): DestInfo | undefined {
  const port = dest.port ?? d.service(svc).port;
  return d.dests(svc).find((x) => x.port === port && sameAddress(x.address, dest.address));
}

/** Re-create a service and its destinations (oldest first, so list order comes back). */
function recreateService(d: Director, svc: ServiceKey): ConfigCmd[] {
  const s = d.service(svc);
  const key = keyOf(s);
  const out: ConfigCmd[] = [{ op: 'add-service', svc: key, opts: optionsOf(s) }];
  for (const dest of d.dests(key).reverse()) out.push({ op: 'add-server', svc: key, dest: destOptionsOf(dest) });
  return out;
}

/**
 * The commands that undo `c`, read from `d` before `c` is applied. `recreates`:
 * the undo adds back something `c` deletes (new ids: the data path must be told).
 * A lookup that fails means `c` fails too; its (empty) undo is never used.
 */
export function inverseOf(d: Director, c: ConfigCmd): { cmds: ConfigCmd[]; recreates: boolean } {
  try {
    switch (c.op) {
      case 'add-service': return { cmds: [{ op: 'delete-service', svc: c.svc }], recreates: false };
      case 'edit-service': return { cmds: [{ op: 'edit-service', svc: c.svc, opts: optionsOf(d.service(c.svc)) }], recreates: false };
      case 'delete-service': return { cmds: recreateService(d, c.svc), recreates: true };
      // Listings are newest first: re-create oldest first so the list order comes back.
      case 'flush': return { cmds: d.services().reverse().flatMap((s) => recreateService(d, keyOf(s))), recreates: true };
      // The same address and (possibly defaulted) port name the same destination.
      case 'add-server': return { cmds: [{ op: 'delete-server', svc: c.svc, dest: { address: c.dest.address, port: c.dest.port! } }], recreates: false };
      case 'edit-server': {
        const prev = findDest(d, c.svc, c.dest);
        return { cmds: prev ? [{ op: 'edit-server', svc: c.svc, dest: destOptionsOf(prev) }] : [], recreates: false };
      }
      case 'delete-server': {
        const prev = findDest(d, c.svc, c.dest);
        return { cmds: prev ? [{ op: 'add-server', svc: c.svc, dest: destOptionsOf(prev) }] : [], recreates: true };
      }
      case 'set': return { cmds: [{ op: 'set', ...d.timeouts() }], recreates: false };
      // Zeroed counters cannot come back; zero writes nothing to the state file.
      default: return { cmds: [], recreates: false };
    }
  } catch {
    return { cmds: [], recreates: false };
  }
}

const UNDO_OP: Record<number, number> = { [PACKED_OPS['add-service']]: PACKED_OPS['delete-service'], [PACKED_OPS['add-server']]: PACKED_OPS['delete-server'] };

interface PackedAdds { words: Uint32Array; done: number; failed: readonly number[] }

/** Deletes of what the applied records added, newest first. */
function packedInverse({ words, done, failed }: PackedAdds): Uint32Array {
  const inverse = new Uint32Array((done - failed.length) * PACKED_WORDS);
  let at = 0;
  let f = failed.length - 1;
  for (let i = done - 1; i >= 0; i--) {
    if (f >= 0 && failed[f] === i) { f--; continue; }
    inverse.set(words.subarray(i * PACKED_WORDS, (i + 1) * PACKED_WORDS), at);
    inverse[at + P_OP] = (inverse[at + P_OP] & ~0xff) | UNDO_OP[inverse[at + P_OP] & 0xff];
    at += PACKED_WORDS;
  }
  return inverse;
}

/** Applied operations, newest last, and how to take each back. */
export class UndoLog {
  private readonly steps: (ConfigCmd[] | PackedAdds)[] = [];
  /** Some undo step re-creates what was deleted (new ids). */
  recreates = false;

  get size(): number { return this.steps.length; }

  /** Call before applying `c`; `commit()` the returned step once `c` succeeded. */
  capture(d: Director, c: ConfigCmd): { commit(): void } {
    const inv = inverseOf(d, c);
    return { commit: () => { this.steps.push(inv.cmds); this.recreates ||= inv.recreates; } };
  }

  /** Packed records 0..done-1 that each added a service or destination, except the failed ones (index order). */
  packedAdds(words: Uint32Array, done: number, failed: readonly number[]): void {
    if (done > failed.length) this.steps.push({ words, done, failed });
  }

  /** Take everything back, newest first. Returns the failures (a bug, or memory exhaustion). */
  undo(d: Director): string[] {
    const errors: string[] = [];
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const step = this.steps[i];
      if (Array.isArray(step)) {
        for (const c of step) {
          try { applyCmd(d, c); } catch (e) { errors.push(`${c.op}: ${e instanceof Error ? e.message : String(e)}`); }
        }
        continue;
      }
      const inverse = packedInverse(step);
      const n = inverse.length / PACKED_WORDS;
      for (const f of d.applyPacked(inverse, n, false).failures) errors.push(`packed undo: ${f.error.message}`);
    }
    this.steps.length = 0;
    return errors;
  }
}
