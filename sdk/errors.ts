// Typed errors with stable codes. `message` is ipvsadm's text where ipvsadm
// has one, so the CLI can print it as is.
import { status } from './core/abi.gen.js';

export class WasmvsError extends Error {
  /** Stable machine-readable code, e.g. 'ESERVICEEXISTS'. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ServiceExistsError extends WasmvsError {
  constructor() { super('ESERVICEEXISTS', 'Service already exists'); }
}
export class NoSuchServiceError extends WasmvsError {
  constructor() { super('ENOSERVICE', 'No such service'); }
}
/** A destination call on a missing service (ipvsadm: "Service not defined"). */
export class ServiceNotDefinedError extends WasmvsError {
  constructor() { super('ESERVICENOTDEFINED', 'Service not defined'); }
}
export class DestExistsError extends WasmvsError {
  constructor() { super('EDESTEXISTS', 'Destination already exists'); }
}
export class NoSuchDestError extends WasmvsError {
  constructor() { super('ENODEST', 'No such destination'); }
}
export class SchedulerNotFoundError extends WasmvsError {
  constructor() { super('ENOSCHED', 'Scheduler or persistence engine not found'); }
}
/** The kernel's EINVAL text; `detail` says what was wrong. */
export class InvalidOperationError extends WasmvsError {
  readonly detail: string;
  constructor(detail: string) {
    super('EINVAL', 'Invalid operation.  Possibly wrong module version, address not unicast, ...');
    this.detail = detail;
  }
}
export class OutOfRangeError extends WasmvsError {
  readonly detail: string;
  constructor(detail: string) {
    super('ERANGE', 'Numerical result out of range');
    this.detail = detail;
  }
}
/** Input rejected before it reached the core; message is ipvsadm's local message. */
export class ValidationError extends WasmvsError {
  constructor(code: string, message: string) { super(code, message); }
}
export class StaleHandleError extends WasmvsError {
  constructor() { super('ESTALE', 'Stale handle: the object was deleted'); }
}
/** The core could not get memory (its budget, `memoryLimit`, or wasm's own limit); nothing changed. */
export class OutOfMemoryError extends WasmvsError {
  constructor() {
    super('ENOMEM', 'Memory allocation problem');
  }
}

export class CoreError extends WasmvsError {
  readonly status: number;
  constructor(st: number) {
    super('ECORE', `wasmvs core returned status ${st}`);
    this.status = st;
  }
}

/** Local validation failures, each with ipvsadm's message (reference §5.5). */
export const invalid = {
  vaddr: () => new ValidationError('EBADVADDR', 'illegal virtual server address[:port] specified'),
  raddr: () => new ValidationError('EBADRADDR', 'illegal real server address[:port] specified'),
  /** A flow's client endpoint (no ipvsadm equivalent). */
  caddr: () => new ValidationError('EBADCADDR', 'illegal client address[:port] specified'),
  weight: () => new ValidationError('EBADWEIGHT', 'illegal weight specified'),
  uThreshold: () => new ValidationError('EBADUTHRESH', 'illegal u_threshold specified'),
  lThreshold: () => new ValidationError('EBADLTHRESH', 'illegal l_threshold specified'),
  timeout: (v: unknown) => new ValidationError('EBADTIMEOUT', `invalid timeout value \`${String(v)}' specified`),
  fwmark: (v: unknown) => new ValidationError('EBADFWMARK', `invalid fwmark value \`${String(v)}' specified`),
  netmask: () => new ValidationError('EBADNETMASK', 'illegal virtual server persistent mask specified'),
  netmask6: () => new ValidationError('EBADNETMASK6', 'illegal ipv6 netmask specified'),
  schedFlag: (f: string) => new ValidationError('EBADSCHEDFLAG', `invalid scheduler flag \`${f}'`),
  schedFlagIncompatible: (f: string) => new ValidationError('ESCHEDFLAGINCOMPAT', `incompatible scheduler flag \`${f}'`),
  tunType: () => new ValidationError('EBADTUNTYPE', 'illegal tunnel type specified'),
  tunPort: () => new ValidationError('EBADTUNPORT', 'illegal tunnel port specified'),
  zeroPort: () => new ValidationError('EZEROPORT', 'Zero port specified for non-persistent service'),
  ops: () => new ValidationError('EOPS', 'One-Packet Scheduling is only for UDP virtual services'),
  family: () => new ValidationError('EFAMILY', 'Different address family is allowed only for tunneling servers'),
  tunnelOptions: () => new ValidationError('ETUNOPTS', 'Tunnel options conflict with forward method'),
  protocol: (p: unknown) => new ValidationError('EBADPROTO', `unknown protocol \`${String(p)}'`),
  tcpFlags: (v: unknown) => new ValidationError('EBADTCPFLAGS', `invalid TCP flags \`${String(v)}'`),
  method: (m: unknown) => new ValidationError('EBADMETHOD', `unknown forwarding method \`${String(m)}'`),
  scheduler: (s: unknown) => new ValidationError('EBADSCHED', `invalid scheduler name \`${String(s)}'`),
  mhTableSize: (m: unknown) => new ValidationError('EBADMHSIZE', `invalid mh table size \`${String(m)}' (one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)`),
};

export type Operation = 'service' | 'dest' | 'other';

/** Map a negative core status to the error ipvsadm would report for `op`. */
export function errorFromStatus(st: number, op: Operation, detail = ''): WasmvsError {
  switch (st) {
    case status.E_EXIST: return op === 'dest' ? new DestExistsError() : new ServiceExistsError();
    case status.E_NOSERVICE: return op === 'dest' ? new ServiceNotDefinedError() : new NoSuchServiceError();
    case status.E_NODEST: return new NoSuchDestError();
    case status.E_NOSCHED: return new SchedulerNotFoundError();
    case status.E_INVAL: return new InvalidOperationError(detail);
    case status.E_RANGE: return new OutOfRangeError(detail);
    case status.E_STALE: return new StaleHandleError();
    case status.E_NOMEM: return new OutOfMemoryError();
    default: return new CoreError(st);
  }
}
