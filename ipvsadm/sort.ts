// ipvsadm's listing order: its comparators (with the unsigned-difference
// quirk) run through a top-down merge sort as glibc's qsort does, so even the
// inconsistent orders the quirk produces come out as ipvsadm prints them.
import { parseAddr } from '../sdk/address.js';
import type { ServiceEntry, DestEntry } from './protocol.js';

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
const AF_NUM = { 4: 2, 6: 10 } as const;

const ZERO = [0, 0, 0, 0] as const;
/** Address words, parsed once per address text (listings compare each address many times). */
const wordCache = new Map<string, readonly number[]>();
function words(address: string | null): readonly number[] {
  if (address === null) return ZERO;
  let w = wordCache.get(address);
  if (w === undefined) {
    w = parseAddr(address)?.w ?? ZERO;
    if (wordCache.size > 1 << 20) wordCache.clear();
    wordCache.set(address, w);
  }
  return w;
}

/** C's `int r = (u32)a - (u32)b`: the difference wrapped to a signed 32-bit int. */
const udiff = (a: number, b: number): number => (a - b) | 0;

function addrCmp(af: 4 | 6, a: readonly number[], b: readonly number[]): number {
  if (af !== 6) return udiff(a[0], b[0]);
  let r = 0;
  for (let i = 0; !r && i < 4; i++) r = udiff(a[i], b[i]);
  return r;
}

export function compareServices(a: ServiceEntry, b: ServiceEntry): number {
  let r = udiff(a.fwmark, b.fwmark);
  if (r) return r;
  r = AF_NUM[a.af] - AF_NUM[b.af];
  if (r) return r;
  // ipvsadm gives fwmark services protocol TCP.
  r = (PROTO_NUM[a.protocol ?? 'tcp'] ?? 0) - (PROTO_NUM[b.protocol ?? 'tcp'] ?? 0);
  if (r) return r;
  r = addrCmp(a.af, words(a.address), words(b.address));
  return r || a.port - b.port;
}

export function compareDests(a: DestEntry, b: DestEntry): number {
  return addrCmp(a.af, words(a.address), words(b.address)) || a.port - b.port;
}

/** glibc's msort: split n/2, sort halves, merge taking the left element on ties. */
export function mergeSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const a = items.slice();
  const tmp = new Array<T>(a.length);
  const sort = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >>> 1, n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo, j = lo + n1, k = 0;
    const iEnd = lo + n1, jEnd = lo + n;
    while (i < iEnd && j < jEnd) tmp[k++] = cmp(a[i], a[j]) <= 0 ? a[i++] : a[j++];
    while (i < iEnd) tmp[k++] = a[i++];
    for (let m = 0; m < k; m++) a[lo + m] = tmp[m];
  };
  sort(0, a.length);
  return a;
}

/** Services sorted (unless nosort) with each one's dests sorted too. */
export function sortListing(services: readonly ServiceEntry[], nosort: boolean): ServiceEntry[] {
  if (nosort) return services.slice();
  return mergeSort(services, compareServices).map((s) => ({ ...s, dests: mergeSort(s.dests, compareDests) }));
}
