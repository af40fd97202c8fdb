// IPv4 identification for headers the core creates (tunnel outer headers,
// ICMP errors): a counter started from the init seed, so runs are repeatable.
let next: u32 = 0;

export function seedIpId(seed: u32): void {
  next = seed & 0xffff;
}

export function nextIpId(): u32 {
  next = (next + 1) & 0xffff;
  return next;
}
