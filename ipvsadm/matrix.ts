// ipvsadm's command × option legality matrix and the tunnel-type matrix.
// Key: '+' required, 'x' illegal, '1' at most one of the '1' group, ' ' optional.
import { OPT_NAMES, CMD_NAMES, OPT, type CmdName } from './options.js';
import { CliError } from './messages.js';

// Columns: -n -c svc -s -p -M -r fwd -w -x -y mc tot dmn st rt thr pc srt sid ex ops pe -b grp port ttl size tinf type tprt nocs csum remc | json atomic
const ROWS: Record<CmdName, string> = {
  'add-service':    'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx|xx',
  'edit-service':   'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx|xx',
  'delete-service': 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|xx',
  'flush':          'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|xx',
  'list':           ' 11xxxxxxxxx11       xxxxxxx xxxxx| x',
  'add-server':     'xx+xxx+    xxxxxxxxxxxxxxxxxx     |xx',
  'delete-server':  'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx|xx',
  'edit-server':    'xx+xxx+    xxxxxxxxxxxxxxxxxx     |xx',
  'set':            'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|xx',
  'start-daemon':   'xxxxxxxxxxx xxxxxxx xxxx    xxxxxx|xx',
  'stop-daemon':    'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx|xx',
  'restore':        'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|x ',
  'save':           ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|xx',
  'zero':           'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|xx',
};
const MATRIX: Record<CmdName, string> = Object.fromEntries(
  Object.entries(ROWS).map(([k, v]) => [k, v.replace('|', '')]),
) as Record<CmdName, string>;

if (Object.values(MATRIX).some((r) => r.length !== OPT_NAMES.length)) {
  throw new Error('ipvsadm matrix row length does not match the option table');
}

/** ipvsadm's generic_opt_check: walks the columns in order, first failure wins. */
export function checkCommandOptions(cmd: CmdName, options: ReadonlySet<number>): void {
  const row = MATRIX[cmd];
  let last = -1;
  for (let j = 0; j < OPT_NAMES.length; j++) {
    const rule = row[j];
    if (!options.has(j)) {
      if (rule === '+') throw CliError.local(`You need to supply the '${OPT_NAMES[j]}' option for the '${cmd}' command`);
      continue;
    }
    if (rule === 'x') throw CliError.local(`Illegal '${OPT_NAMES[j]}' option with the '${cmd}' command`);
    if (rule === '1') {
      if (last < 0) { last = j; continue; }
      throw CliError.local(`The option '${OPT_NAMES[j]}' conflicts with the '${OPT_NAMES[last]}' option in the '${cmd}' command`);
    }
  }
}

export const TUN_NAMES = ['ipip', 'gue', 'gre'] as const;
const TUN_OPTS = [OPT['tun-port'], OPT['tun-nocsum'], OPT['tun-csum'], OPT['tun-remcsum']];
const TUN_MATRIX = ['xxxx', '+111', 'x11x'];

/** ipvsadm's tunnel_opt_check (for -a/-e). */
export function checkTunnelOptions(tunType: number, options: ReadonlySet<number>): void {
  const row = TUN_MATRIX[tunType];
  const type = TUN_NAMES[tunType];
  let last = -1;
  for (let j = 0; j < TUN_OPTS.length; j++) {
    const k = TUN_OPTS[j];
    if (!options.has(k)) {
      if (row[j] === '+') throw CliError.local(`You need to supply the '${OPT_NAMES[k]}' option for the '${type}' tunnel type`);
      continue;
    }
    if (row[j] === 'x') throw CliError.local(`Illegal '${OPT_NAMES[k]}' option with the '${type}' tunnel type`);
    if (row[j] === '1') {
      if (last < 0) { last = k; continue; }
      throw CliError.local(`The option '${OPT_NAMES[k]}' conflicts with the '${OPT_NAMES[last]}' option in the '${type}' tunnel type`);
    }
  }
}

export { CMD_NAMES };
