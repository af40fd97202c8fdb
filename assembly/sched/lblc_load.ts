// Load tests shared by lblc and lblcr.
import { Dest } from "../service/dest";
import { Service } from "../service/service";

/**
 * "lblc-overloaded" (is_overloaded in ip_vs_lblc.c / ip_vs_lblcr.c): d has
 * more active connections than its weight AND some dest of the service has
 * activeconns * 2 < its weight, i.e. there is clearly a better place to go.
 * Only active connections count here, and the OVERLOAD flag plays no part.
 */
export function isLblcOverloaded(d: Dest, svc: Service): bool {
  if (<i64>d.activeconns <= <i64>d.weight) return false;
  const list = svc.dests;
  for (let i = 0, n = list.length; i < n; i++) {
    const m = unchecked(list[i]);
    if (<i64>m.activeconns * 2 < <i64>m.weight) return true;
  }
  return false;
}
