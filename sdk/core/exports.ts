// The core's exports as the SDK sees them (assembly/index.ts is the source).
export type CoreExports = {
  memory: WebAssembly.Memory;
  init(seedLo: number, seedHi: number): number;
  abiVersion(): number;
  ipvsVersion(): number;
  getIoBase(): number;
  /** Selects I/O area k (0: init's; a host thread's own otherwise); the previous area, or a status. */
  ioUse(k: number): number;
  maxBatch(): number;
  svcAdd(): number;
  svcEdit(): number;
  svcFind(): number;
  svcDelete(id: number): number;
  svcClear(): number;
  svcCount(): number;
  svcGet(id: number): number;
  svcList(cursor: number): number;
  listCursor(): number;
  destAdd(svcId: number): number;
  destEdit(svcId: number): number;
  destDelete(svcId: number): number;
  destList(svcId: number, cursor: number): number;
  destGet(id: number): number;
  destSetConns(id: number, active: number, inactive: number): number;
  destConnEnd(id: number, active: number): number;
  destSetHealth(id: number, up: number): number;
  schedTable(svcId: number, cursor: number): number;
  schedule(n: number, now: number): number;
  schedTick(now: number): number;
  counter(i: number): number;
  statsGet(kind: number, id: number): number;
  statsZero(svcId: number): number;
  statsTick(now: number): number;
  statsFeed(destId: number, conns: number, inpkts: number, inbytes: number, outpkts: number, outbytes: number): number;
  advance(now: number): number;
  packetBatch(n: number, now: number): number;
  connLookupBatch(n: number): number;
  connEvent(id: number, ev: number, now: number): number;
  connList(cursor: number, now: number): number;
  connGet(id: number, now: number): number;
  connCount(): number;
  connImport(now: number): number;
  connTabBits(bits: number): number;
  connTabSize(): number;
  connMemory(): number;
  /** Bytes held by the core's allocator (records, tables, caches; the table's connection chunks excluded). */
  memAllocated(): number;
  setTimeouts(tcp: number, tcpfin: number, udp: number): number;
  getTimeout(which: number): number;
  setOption(id: number, value: number): number;
  getOption(id: number): number;
  cfgBatch(n: number, stop: number): number;
  gwConfig(tunSrc: number, mtu: number): number;
  gwDestTunnel(destId: number, tunSrc: number, mtu: number): number;
  gwOptions(flags: number): number;
  gwBurst(n: number, stride: number, now: number): number;
  gwStaleSyns(n: number, stride: number): number;
  ctApply(n: number, now: number, settled: number, young: number): number;
  /** The next up to `max` tracked fast flows' tuples to read (REGION_CT); fewer than max: the scan is over. */
  ctTrackNext(max: number, now: number): number;
  /** The tracker's finished flows dropped; how many tuples ctTrackNext would hand out now. */
  ctTrackPrepare(now: number): number;
  /** Flows tracked; bit 31: one went untracked for want of room since the last ctTrackReset. */
  ctTrackState(): number;
  ctTrackReset(): void;
  gwFastDest(destId: number, on: number): number;
  gwFastParams(base: number, invalidMark: number, young: number): number;
};
