// Deleted destinations that connections still reference wait here, and are
// revived with their counters when the same (af, addr, port) is re-added to the
// same service (§2.2). Unreferenced ones are freed at once.
import { Dest } from "./dest";
import { Service } from "./service";
import { dests } from "./dests";

const trash = new Array<Dest>();

export function trashDest(d: Dest): void {
  if (d.refcnt == 0) {
    dests.drop(d.id);
    return;
  }
  trash.push(d);
}

export function reviveFromTrash(svc: Service, spec: Dest): Dest | null {
  for (let i = 0; i < trash.length; i++) {
    const d = trash[i];
    if (d.svcId == svc.id && d.sameAddr(spec.af, spec.a0, spec.a1, spec.a2, spec.a3, spec.port)) {
      trash.splice(i, 1);
      return d;
    }
  }
  return null;
}

/** Free trashed dests that nothing references any more. */
export function sweepTrash(): void {
  for (let i = trash.length - 1; i >= 0; i--) {
    const d = trash[i];
    if (d.refcnt == 0) {
      trash.splice(i, 1);
      dests.drop(d.id);
    }
  }
}

export function trashCount(): i32 {
  return trash.length;
}
