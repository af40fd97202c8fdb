// Prerequisites of the namespace suites. In CI (CI=true) a missing one fails
// the suite; elsewhere the suite is skipped with a loud reason.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ADDON = fileURLToPath(new URL('../../../native/build/Release/wasmvs_nfq.node', import.meta.url));

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the netfilter-queue suites cannot run here, or null when they can. */
export function missingNfqPrereq(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!has('ip', ['-V'])) return 'iproute2 (ip) not installed';
  if (!has('iptables', ['--version'])) return 'iptables not installed';
  if (!has('ethtool', ['--version'])) return 'ethtool not installed';
  if (!has('python3', ['--version'])) return 'python3 not installed (the TUN test decapsulator)';
  if (!existsSync(ADDON)) return `addon not built (${ADDON}); install libmnl-dev and run npm run build:native`;
  return null;
}

export const inCI = process.env.CI === 'true';
