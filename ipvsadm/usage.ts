// -h and -v texts. The option list mirrors ipvsadm's so scripts and habits carry over.
import { version } from '../sdk/core/abi.gen.js';
import { SCHEDULERS } from '../sdk/schedulers.js';

export const WASMVS_VERSION = '0.1.0';

/** The core ABI as the version texts print it: `<major>.<minor>` of ABI_VERSION (major << 16 | minor << 8 | patch). */
export const CORE_ABI = `${version.ABI_VERSION >>> 16}.${(version.ABI_VERSION >>> 8) & 0xff}`;

export function versionText(): string {
  return `wasmvsadm v${WASMVS_VERSION} (wasmvs core ABI ${CORE_ABI}; ipvsadm v1.31 compatible, IPVS v1.2.1)\n`;
}

export function usageText(p: string): string {
  const scheds = Object.keys(SCHEDULERS).filter((s) => s !== 'none').join('|');
  return versionText() + `Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R [--atomic]
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [options] [--json]
  ${p} -Z [virtual-service]
  ${p} --set tcp tcpfin udp
  ${p} --drain [-t|u service -r server-address [--deadline s] [--wait] [--cancel]] [--json]
  ${p} --directors [--json]      (directors sharing wasmvsd --store etcd://…)
  ${p} --dry-run -a|e|d|E|D … [--json]   (what the change would move; nothing is changed)
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin ('#' comments allowed)
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message
  --version         -v        display the version

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of ${scheds},
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine (none available in wasmvs)
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
  --json                              listings as JSON (schema in docs/cli.md)
  --atomic                            with -R: apply the whole input or nothing
  --socket PATH                       wasmvsd control socket (default $WASMVS_SOCKET,
                                      /run/wasmvs/wasmvsd.sock as root, else
                                      $XDG_RUNTIME_DIR/wasmvs/wasmvsd.sock)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=0)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
`;
}
