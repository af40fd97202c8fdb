// Loads the optional NFQUEUE addon. The SDK installs without it (no compiler
// or libmnl needed); only the gateway asks for it, and gets a clear error.
import { createRequire } from 'node:module';

export type VerdictMode = 'batch' | 'per-packet';

/** Options of one bound queue (see native-host/src/nfq_socket.h). */
export interface NfQueueOptions {
  queue: number;
  /** Bytes of each packet copied to userspace (<= 65535). */
  copyRange?: number;
  /** Kernel queue length before packets are dropped (or accepted with failOpen). */
  maxLen?: number;
  /** Accept instead of drop when the queue is full. */
  failOpen?: boolean;
  /** Receive unsegmented GSO packets (checksum may be partial). */
  gso?: boolean;
  /** Socket receive buffer in bytes. */
  rcvBuf?: number;
  /** false: one verdict message per packet, still one send per burst (for comparisons only). */
  batch?: boolean;
  /**
   * 'batch' (default): batch messages where possible, one send per burst.
   * 'per-packet': one NFQNL_MSG_VERDICT per packet, each in its own sendto
   * (the honest per-packet baseline for benchmarks; overrides `batch`).
   */
  verdictMode?: VerdictMode;
}

export interface NfQueueStats {
  packets: number; enobufs: number; nlErrors: number; malformed: number; verdictMsgs: number; sends: number;
  /** Netlink messages dropped because they did not come from the kernel (port id not 0). */
  foreign?: number;
}

/** The native class as the host sees it; tests pass a fake with this shape. */
export interface NativeQueue {
  readonly fd: number;
  start(onReadable: (status: number) => void): void;
  stop(): void;
  read(buf: Uint8Array, stride: number, max: number): number;
  verdicts(records: Uint8Array, count: number, payloads?: Uint8Array): number;
  stats(): NfQueueStats;
  close(): void;
}

export type NativeQueueClass = new (options: NfQueueOptions) => NativeQueue;

export class AddonMissingError extends Error {
  readonly code = 'WASMVS_NO_ADDON';
  constructor(cause: unknown) {
    super(
      'the wasmvs netfilter-queue addon is not built; install a C++ compiler and libmnl-dev, ' +
        `then run \`npm run build:native\` (${cause instanceof Error ? cause.message : String(cause)})`,
    );
  }
}

const candidates = ['../build/Release/wasmvs_nfq.node', '../../../native-host/build/Release/wasmvs_nfq.node'];

/** The native NfQueue class, or AddonMissingError. */
export function loadNativeQueue(): NativeQueueClass {
  const require = createRequire(import.meta.url);
  let last: unknown;
  for (const rel of candidates) {
    try {
      return (require(rel) as { NfQueue: NativeQueueClass }).NfQueue;
    } catch (e) {
      last = e;
    }
  }
  throw new AddonMissingError(last);
}
