// The core's exports as the SDK sees them (assembly/index.ts is the source).
export type CoreExports = {
  memory: WebAssembly.Memory;
  init(seedLo: number, seedHi: number): number;
  abiVersion(): number;
  ipvsVersion(): number;
  getIoBase(): number;
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
  schedule(n: number, now: number): number;
  counter(i: number): number;
};
