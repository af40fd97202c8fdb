// Typed wrapper over one bound queue: a burst loop driven by the addon's
// uv_poll readiness callback. The native class is a constructor parameter
// so tests of the surrounding host can pass a fake.
import { loadNativeQueue, type NativeQueue, type NativeQueueClass, type NfQueueOptions, type NfQueueStats } from '../../native/addon.js';
import { REC, VER, NF, STRIDE_PACKED, packedSpan, packetAt, recordOffsets, writeVerdicts } from './records.js';

export interface BurstOptions {
  /** Packets per read (and per verdict flush). */
  burst?: number;
  /** Bytes per packet record, header included; a multiple of 4. 0: packed records (see records.ts). */
  stride?: number;
  /** Packed records: bytes of the burst buffer (default: room for `burst` records of the copy range). */
  bufferBytes?: number;
}

/** Handles one burst: `n` records in `packets` (stride 0: packed, see recordOffsets); must fill `verdicts` and return how many it wrote. */
export type BurstHandler = (packets: Uint8Array, stride: number, n: number, verdicts: Uint8Array) => { count: number; payloads?: Uint8Array };

export class Queue {
  readonly burst: number;
  readonly stride: number;
  readonly packets: Uint8Array;
  readonly verdicts: Uint8Array;
  private readonly native: NativeQueue;
  private readonly onError: (e: unknown) => void;
  /** Verdict for a burst the handler failed on: ACCEPT when fail-open, else DROP. */
  private readonly failVerdict: number;

  constructor(options: NfQueueOptions & BurstOptions, onError: (e: unknown) => void, Native: NativeQueueClass = loadNativeQueue()) {
    this.burst = options.burst ?? 64;
    const copy = options.copyRange ?? 0xffff;
    this.stride = options.stride ?? (REC.HEADER + copy + 3) & ~3;
    if (this.burst < 1 || this.burst > 4096) throw new RangeError(`burst must be 1..4096, got ${this.burst}`);
    const packed = this.stride === STRIDE_PACKED;
    if (!packed && (this.stride % 4 !== 0 || this.stride < REC.HEADER + 40)) throw new RangeError(`bad record stride ${this.stride}`);
    this.packets = new Uint8Array(packed ? options.bufferBytes ?? this.burst * packedSpan(copy) : this.burst * this.stride);
    this.verdicts = new Uint8Array(this.burst * VER.STRIDE);
    this.onError = onError;
    this.failVerdict = options.failOpen === false ? NF.DROP : NF.ACCEPT;
    this.native = new Native(options);
  }

  get fd(): number { return this.native.fd; }

  /** Starts polling; each readable event drains bursts until the socket is empty. */
  start(handler: BurstHandler): void {
    this.native.start((status) => {
      if (status < 0) return this.onError(new Error(`nfqueue poll failed: status ${status}`));
      try {
        this.drain(handler);
      } catch (e) {
        this.onError(e);
      }
    });
  }

  /** Reads and answers bursts until the socket has nothing more; returns packets handled. */
  drain(handler: BurstHandler, maxBursts = 64): number {
    let total = 0;
    for (let b = 0; b < maxBursts; b++) {
      const n = this.native.read(this.packets, this.stride, this.burst);
      if (n === 0) break;
      let answer: { count: number; payloads?: Uint8Array };
      try {
        answer = handler(this.packets, this.stride, n, this.verdicts);
      } catch (e) {
        // Packets read but never answered would sit in the kernel queue
        // forever: give the whole burst the fail verdict, then report.
        this.native.verdicts(this.verdicts, this.failBurst(n));
        throw e;
      }
      this.native.verdicts(this.verdicts, answer.count, answer.payloads);
      total += n;
      if (n < this.burst) break;
    }
    return total;
  }

  /** Fills the verdict buffer with the fail verdict for the `n` packets read. */
  private failBurst(n: number): number {
    const list = [];
    for (const at of recordOffsets(this.packets, this.stride, n)) list.push({ id: packetAt(this.packets, this.stride, 0, at).id, verdict: this.failVerdict });
    return writeVerdicts(this.verdicts, list);
  }

  stats(): NfQueueStats { return this.native.stats(); }
  stop(): void { this.native.stop(); }
  close(): void { this.native.close(); }
}
