// Packed add-service records for the control protocol's packed apply (a
// streamed -R), as the daemon suites send them.
import { encodePacked } from '../../ipvsadm/packed-wire.js';
import { PackedWriter, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED } from '../../sdk/packed.js';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { schedulerId } from '../../sdk/schedulers.js';

/** n add-service records (TCP 198.18.0.0 + i, port 80, rr) from service `first` on, encoded for the wire. */
export function packedServices(first: number, n: number): string {
  const w = new PackedWriter();
  for (let i = first; i < first + n; i++) {
    const p = w.next();
    w.words[p + P_OP] = PACKED_OPS['add-service'] | (L.PROTO_TCP << 8);
    w.words[p + P_VADDR] = 0xc6120000 + i; w.words[p + P_VPORT] = 80; w.words[p + P_SCHED] = schedulerId('rr')!;
  }
  return encodePacked(w.take());
}
