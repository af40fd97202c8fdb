// Deleted destinations that connections still reference wait here, and are
// revived with their counters when the same (af, addr, port) is re-added to the
// same service (§2.2). Like IPVS, an unreferenced dest is freed by the trash
// sweep (every 60 s from the connection table's clock) once it has been
// unreferenced for 120 s (IP_VS_DEST_TRASH_PERIOD).
import { Dest, freeDest } from "./dest";
import { Service } from "./service";
import { dests } from "./dests";
import { Vec } from "./vec";

const trash = new Vec<Dest>();

const TRASH_PERIOD: u32 = 120;
/** Bumped on every trashDest (the expire_nodest_conn flush watches it). */
let trashed: u32 = 0;

/** Room for one more trashDest; callers reserve before unlinking so the move cannot fail. */
export function reserveTrash(n: i32): bool {
  return trash.reserve(trash.length + n);
}

export function trashDest(d: Dest): void {
  d.idleSince = 0;
  trash.push(d);
  trashed++;
}

export function trashEvents(): u32 {
  return trashed;
}

export function reviveFromTrash(svc: Service, spec: Dest): Dest | null {
  for (let i = 0; i < trash.length; i++) {
    const d = unchecked(trash[i]);
    if (d.svcId == svc.id && d.sameAddr(spec.af, spec.a0, spec.a1, spec.a2, spec.a3, spec.port)) {
      trash.removeAt(i);
      return d;
    }
  }
  return null;
}

/**
 * ip_vs_dest_trash_expire: the first sweep that sees a dest unreferenced
 * notes the time (idleSince, at least 1); a later sweep >= 120 s after frees it.
 */
export function sweepTrash(now: u32): void {
  for (let i = trash.length - 1; i >= 0; i--) {
    const d = unchecked(trash[i]);
    if (d.refcnt != 0) {
      d.idleSince = 0;
      continue;
    }
    if (d.idleSince == 0) {
      d.idleSince = now > 0 ? now : 1;
      continue;
    }
    if (now - d.idleSince < TRASH_PERIOD) continue;
    trash.removeAt(i);
    dests.drop(d.id);
    // A cache entry may still point here (the kernel's caches hold the dest):
    // the last putDest frees it.
    if (d.cacheRefs == 0) freeDest(d);
    else d.dropped = true;
  }
}

export function trashCount(): i32 {
  return trash.length;
}
