#!/usr/bin/env python3
# Sends a burst of malformed TCP/UDP packets to VIP from a raw socket
# (IP_HDRINCL) for the gateway namespace suite. Only kinds that pass the
# kernel's own IP checks (ip_rcv validates IHL, checksum and total length
# before PREROUTING) and iptables' tcp/udp matches can reach the queue:
#   tcp-doff  TCP data offset 15 (60 bytes) in a 20-byte segment
#   tcp-ihl   IHL 6 (one option word) with the same bad data offset behind it
#   udp-long  UDP length field larger than the datagram
#   udp-short UDP length field below 8
# Usage: malformed.py SRC VIP TCPPORT UDPPORT COUNT; prints "sent N".
import socket, struct, sys

def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip(src: str, dst: str, proto: int, body: bytes, opts: bytes = b'') -> bytes:
    ihl = (20 + len(opts)) // 4
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 4 * ihl + len(body), 0x4242, 0x4000, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + opts
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + body

def main() -> None:
    src, vip, tport, uport, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    kinds = [
        # TCP: data offset 15 words, but only the 20-byte base header is there.
        ip(src, vip, 6, struct.pack('!HHIIBBHHH', 40001, tport, 1, 0, 15 << 4, 0x10, 65535, 0, 0)),
        # IHL 6 (a NOP/EOL option word) and the same bad data offset behind it.
        ip(src, vip, 6, struct.pack('!HHIIBBHHH', 40002, tport, 1, 0, 14 << 4, 0x10, 65535, 0, 0), b'\x01\x01\x01\x00'),
        # UDP: length field says 200, the datagram has 12 bytes.
        ip(src, vip, 17, struct.pack('!HHHH', 40003, uport, 200, 0) + b'abcd'),
        # UDP: length field 4 (< the 8-byte header).
        ip(src, vip, 17, struct.pack('!HHHH', 40004, uport, 4, 0) + b'abcd'),
    ]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    n = 0
    for i in range(count):
        s.sendto(kinds[i % len(kinds)], (vip, 0))
        n += 1
    print(f'sent {n}', flush=True)

if __name__ == '__main__':
    main()
