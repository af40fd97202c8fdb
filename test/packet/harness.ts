// Runs the core's pkt* exports on packets: copies bytes into REGION_PACKETS,
// fills decision records, reads the result back. One fresh core per harness
// so IP ids (seeded at init) are predictable.
import { readFileSync } from 'node:fs';
import { instantiateCore } from '../../sdk/src/core/load.js';
import type { CoreExports } from '../../sdk/src/core/exports.js';
import { layout as L, counters as C } from '../../sdk/src/core/abi.gen.js';
import { addr } from './build.js';

const wasm = new WebAssembly.Module(readFileSync(new URL('../../build/wasmvs.debug.wasm', import.meta.url)));

export interface Result { verdict: number; out: Uint8Array }

export class Harness {
  private constructor(readonly x: CoreExports) {}

  static async create(seedLo = 0x1000): Promise<Harness> {
    const x = await instantiateCore(wasm);
    x.init(seedLo, 0);
    return new Harness(x);
  }

  private get pkts(): number { return this.x.getIoBase() + L.REGION_PACKETS; }

  load(bytes: Uint8Array, off = 0): void {
    new Uint8Array(this.x.memory.buffer, this.pkts + off, bytes.length).set(bytes);
  }

  read(off: number, len: number): Uint8Array {
    return new Uint8Array(this.x.memory.buffer, this.pkts + off, len).slice();
  }

  /** Puts address:port (IPv4 or IPv6 text) into decision record `slot`. */
  decision(slot: number, address: string, port: number): void {
    const dv = new DataView(this.x.memory.buffer, this.x.getIoBase() + L.REGION_DECISIONS + slot * L.DECISION_SIZE);
    const b = addr(address);
    dv.setUint8(L.DEC_DAF, b.length === 4 ? 4 : 6);
    dv.setUint16(L.DEC_DPORT, port, true);
    for (let w = 0; w < 4; w++) {
      const word = b.length === 4 ? (w === 0 ? ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0 : 0)
        : ((b[4 * w] << 24) | (b[4 * w + 1] << 16) | (b[4 * w + 2] << 8) | b[4 * w + 3]) >>> 0;
      dv.setUint32(L.DEC_DADDR + 4 * w, word, true);
    }
  }

  flow(slot: number): DataView {
    return new DataView(this.x.memory.buffer, this.x.getIoBase() + L.REGION_FLOWS + slot * L.FLOW_SIZE, L.FLOW_SIZE);
  }

  counter(name: keyof typeof C): number { return this.x.counter(C[name]); }

  private result(verdict: number): Result {
    return { verdict, out: verdict >= 0 ? this.read(0, this.x.pktLen()) : new Uint8Array() };
  }

  parse(p: Uint8Array, mark = 0): Result { this.load(p); return this.result(this.x.pktParse(0, p.length, 0, mark)); }
  nat(p: Uint8Array, dir: number, flags = 0): Result { this.load(p); return this.result(this.x.pktNat(0, p.length, 0, dir, flags)); }
  route(p: Uint8Array, flags = 0): Result { this.load(p); return this.result(this.x.pktRoute(0, p.length, flags)); }
  tunnel(p: Uint8Array, src: string, mtu: number, flags = 0, cap = 4096): Result {
    this.load(p);
    const s = addr(src);
    const src32 = ((s[0] << 24) | (s[1] << 16) | (s[2] << 8) | s[3]) >>> 0;
    return this.result(this.x.pktTunnel(0, p.length, cap, 0, src32, mtu, flags));
  }
}
