// The flow being scheduled, filled from a flow record before each pick. One
// shared instance: picking never allocates.
@unmanaged export class Flow {
  af: u32 = 4;
  proto: u32 = 6;
  fwmark: u32 = 0;
  c0: u32 = 0;
  c1: u32 = 0;
  c2: u32 = 0;
  c3: u32 = 0;
  cport: u32 = 0;
  v0: u32 = 0;
  v1: u32 = 0;
  v2: u32 = 0;
  v3: u32 = 0;
  vport: u32 = 0;
  tcpflags: u32 = 0;
  len: u32 = 0;
  /** Seconds, from the caller. */
  now: u32 = 0;
}

export const flow = new Flow();
