#!/usr/bin/env python3
# Userspace IPIP decapsulator for the TUN namespace test (this kernel has no
# ipip module): reads IP protocol 4 packets from a raw socket and writes the
# inner packet into a TUN device, whose kernel side then delivers it like
# tunl0 would. Prints "ready", then one line per packet (none with a second
# argument "quiet"); exits on stdin EOF or after 30 s without a packet.
import fcntl, os, select, socket, struct, sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000

def main() -> None:
    name = sys.argv[1]
    quiet = sys.argv[2:] == ['quiet']
    tun = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
    print('ready', flush=True)
    while True:
        ready, _, _ = select.select([raw, sys.stdin], [], [], 30)
        if not ready or sys.stdin in ready:
            return
        pkt = raw.recv(65535)
        ihl = (pkt[0] & 15) * 4
        inner = pkt[ihl:]
        os.write(tun, inner)
        if not quiet:
            print(f'decap proto={pkt[9]} src={socket.inet_ntoa(pkt[12:16])} dst={socket.inet_ntoa(pkt[16:20])} '
                  f'inner_dst={socket.inet_ntoa(inner[16:20])} len={len(inner)}', flush=True)

if __name__ == '__main__':
    main()
