#!/bin/bash
# What conntrack counts of a TCP handshake whose packets are repeated, against what the kernel forwards:
# client namespace -> router (plain nft DNAT, conntrack with acct) -> server namespace, a raw-socket
# client (ct-ignored.py, MODE=synack|late-ack|ack-then-syn), forward-hook counters against the entry's
# counters in /proc/net/nf_conntrack. Root; its own namespaces (198.18.60-62.0/24), removed at exit.
#   flock /tmp/wasmvs-netns.lock bash bench/gateway/ct-ignored.sh          (MODE=late-ack ... for the others)
# (bench/gateway/ANALYSIS.md: conntrack "ignores" a SYN repeated after the SYN/ACK and a SYN/ACK repeated
# before the ACK: passed and NATed, counted by no entry.)
set -u
C=gwxac R=gwxar S=gwxas
cleanup() { for n in $C $R $S; do ip netns del $n 2>/dev/null; done; }
trap cleanup EXIT
cleanup
for n in $C $R $S; do ip netns add $n; ip -n $n link set lo up; done
ip link add gwxa0 netns $C type veth peer name gwxa1 netns $R
ip link add gwxa2 netns $R type veth peer name gwxa3 netns $S
ip -n $C addr add 198.18.60.2/24 dev gwxa0; ip -n $C link set gwxa0 up; ip -n $C route add default via 198.18.60.1
ip -n $R addr add 198.18.60.1/24 dev gwxa1; ip -n $R link set gwxa1 up
ip -n $R addr add 198.18.61.1/24 dev gwxa2; ip -n $R link set gwxa2 up
ip -n $S addr add 198.18.61.2/24 dev gwxa3; ip -n $S link set gwxa3 up; ip -n $S route add default via 198.18.61.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1
ip netns exec $R nft -f - <<'NFT'
table ip t {
  counter toS {}
  counter fromS {}
  chain pre {
    type nat hook prerouting priority -100;
    ip daddr 198.18.62.1 tcp dport 80 dnat to 198.18.61.2:8080
  }
  chain count {
    type filter hook forward priority 100;
    ip daddr 198.18.61.2 tcp dport 8080 counter name toS
    ip saddr 198.18.61.2 tcp sport 8080 counter name fromS
  }
}
NFT
ip netns exec $C nft add table ip c
ip netns exec $C nft 'add chain ip c out { type filter hook output priority 0; }'
ip netns exec $C nft add rule ip c out tcp flags rst drop
ip netns exec $S python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('198.18.61.2',8080)); s.listen(); s.settimeout(4)
try:
  c,_=s.accept(); time.sleep(3)
except Exception as e: print('server', e)
" &
sleep 0.5
ip netns exec $C timeout 10 python3 "$(dirname "$0")/ct-ignored.py" 198.18.60.2 198.18.62.1 40000 80 ${MODE:-synack}
sleep 0.3
echo "--- forwarded (forward hook):"; ip netns exec $R nft list counters | grep -E "counter|packets"
echo "--- conntrack:"; ip netns exec $R cat /proc/net/nf_conntrack | grep 40000
wait
