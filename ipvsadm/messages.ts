// CLI errors with ipvsadm's exit codes, and the mapping from the SDK's
// stable error codes (as the daemon returns them) to ipvsadm's kernel texts.

/** Exit codes: 2 local validation, 255 option syntax and kernel-style errors, 1 listing failures. */
export const EXIT = { OK: 0, LISTING: 1, LOCAL: 2, KERNEL: 255 } as const;

export class CliError extends Error {
  readonly exit: number;
  /** A popt error ends only its own line of a -R (ipvsadm returns -1 and reads on). */
  readonly lineOnly: boolean;
  constructor(message: string, exit: number, lineOnly = false) {
    super(message);
    this.name = 'CliError';
    this.exit = exit;
    this.lineOnly = lineOnly;
  }
  /** ipvsadm's fail(2, …). */
  static local(message: string): CliError { return new CliError(message, EXIT.LOCAL); }
  /** A popt error: `<bad option>: <popt message>`. */
  static popt(bad: string, message: string): CliError { return new CliError(`${bad}: ${message}`, EXIT.KERNEL, true); }
  static tryHelp(program: string): CliError {
    return new CliError(`Try \`${program} -h' or '${program} --help' for more information.`, EXIT.KERNEL);
  }
}

/**
 * The SDK's codes that stand for a kernel errno, with ipvsadm's text for it.
 * Validation codes the kernel would report as "not found" are folded the same way.
 */
const KERNEL_TEXT: Record<string, string> = {
  ESERVICEEXISTS: 'Service already exists',
  ENOSERVICE: 'No such service',
  ESERVICENOTDEFINED: 'Service not defined',
  EDESTEXISTS: 'Destination already exists',
  ENODEST: 'No such destination',
  ENOSCHED: 'Scheduler or persistence engine not found',
  EBADSCHED: 'Scheduler or persistence engine not found',
  EINVAL: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  ERANGE: 'Numerical result out of range',
  EDAEMONEXISTS: 'Daemon has already run',
  ENODAEMON: 'No daemon is running',
  ENOPROTOOPT: 'Protocol not available',
  ENOMEM: 'Memory allocation problem',
};

export interface RemoteError { code: string; message: string }

/** ipvsadm's text for an error the daemon returned. */
export function kernelText(e: RemoteError): string {
  return KERNEL_TEXT[e.code] ?? e.message;
}

export function cantInitialize(socketPath: string, reason: string): CliError {
  return new CliError(
    `Can't initialize ipvs: ${reason}\nAre you sure that wasmvsd is running and listening on ${socketPath}?`,
    EXIT.LOCAL,
  );
}
