// ctnetlink messages as the kernel sends them (nlmsghdr, nfgenmsg, attributes), built for
// the addon's tests on crafted input: the parser (gw-fastpath-ct.test.ts) and the delta ledger
// replayed against the conntrack feed (test/hosts/gateway/gw-fastpath-acct.test.ts).
export const NESTED = 0x8000;
export const CT_NEW = (1 << 8) | 0, CT_DELETE = (1 << 8) | 2;
export const NLM_F_CREATE = 0x400, NLM_F_EXCL = 0x200;
export const A = { TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, PROTOINFO: 4, TIMEOUT: 7, MARK: 8, COUNTERS_ORIG: 9, COUNTERS_REPLY: 10, ID: 12 } as const;

export const be16 = (v: number) => Uint8Array.of(v >>> 8, v & 255);
export const be32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
export const be64 = (v: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v)); return b; };
export const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
/** One attribute, padded to 4; `len` overrides nla_len. */
export function attr(type: number, payload: Uint8Array, len = 4 + payload.length): Uint8Array {
  const b = new Uint8Array(4 + payload.length + ((4 - (payload.length % 4)) % 4));
  new DataView(b.buffer).setUint16(0, len, true);
  new DataView(b.buffer).setUint16(2, type, true);
  b.set(payload, 4);
  return b;
}
export const nest = (type: number, ...parts: Uint8Array[]) => attr(type | NESTED, cat(...parts));
export const ip = (s: string) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
/** IPv6 test addresses as bytes and as the core's four words (2001:2:0:4X::Y). */
export const V6 = { '198.18.40.2': '2001:2:0:40::2', '198.18.42.1': '2001:2:0:42::1', '198.18.41.3': '2001:2:0:41::3' } as Record<string, string>;
export const bytes6 = (s: string) => {
  const [hi, lo] = s.split('::');
  const h = hi.split(':').map((x) => parseInt(x, 16)), l = lo ? lo.split(':').map((x) => parseInt(x, 16)) : [];
  const g = [...h, ...new Array(8 - h.length - l.length).fill(0), ...l];
  return Uint8Array.from(g.flatMap((x) => [x >>> 8, x & 255]));
};
export const words6 = (s: string) => { const b = new DataView(bytes6(s).buffer); return [0, 4, 8, 12].map((o) => b.getUint32(o)); };
export const tuple = (type: number, src: string, dst: string, sport: number, dport: number, v6 = false, short6 = false) => nest(type,
  nest(1, v6 ? attr(3, bytes6(V6[src]).subarray(0, short6 ? 8 : 16)) : attr(1, be32(ip(src))), v6 ? attr(4, bytes6(V6[dst])) : attr(2, be32(ip(dst)))),
  nest(2, attr(1, Uint8Array.of(6)), attr(2, be16(sport)), attr(3, be16(dport))));
/** nlmsghdr + nfgenmsg (AF_INET) + attributes. */
export function msg(type: number, flags: number, ...attrs: Uint8Array[]): Uint8Array {
  const body = cat(Uint8Array.of(2, 0, 0, 0), ...attrs);
  const b = new Uint8Array(16 + body.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, b.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  b.set(body, 16);
  return b;
}
