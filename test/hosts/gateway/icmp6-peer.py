#!/usr/bin/env python3
# The ICMPv6 ends of the gateway IPv6 namespace suite: sockets that meet
# ICMPv6 errors the way applications do (a connected UDP socket's
# ECONNREFUSED, a route's path MTU), and one crafted Packet Too Big. Every
# wait is bounded; each mode prints one line per event.
#   udp-refused HOST PORT              connected UDP socket: "refused" once the port unreachable
#                                      comes back (up to 3 sends), else "reply" or "timeout"
#   udp-oneshot HOST PORT              one datagram from a fresh port, then the socket is closed:
#                                      "sent from PORT"
#   udp-answer-late ADDR PORT          bound to ADDR:PORT; answers the first datagram 0.5 s later,
#                                      connected to its sender ("got from [A]:P"), then
#                                      "refused"/"reply"/"timeout"; keeps the socket until stdin closes
#   ptb HOST MTU QSRC QSPORT QDST QDPORT
#                                      sends HOST an ICMPv6 Packet Too Big (MTU) quoting a 1,400-byte
#                                      UDP packet QSRC:QSPORT -> QDST:QDPORT (the kernel fills the checksum)
import select, socket, struct, sys, time


def fresh_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(3)
    return s


def wait_error(s: socket.socket, tries: int, resend) -> str:
    for _ in range(tries):
        if resend:
            resend()
        try:
            s.recv(2048)
            return 'reply'
        except ConnectionRefusedError:
            return 'refused'
        except socket.timeout:
            continue
    return 'timeout'


def udp_refused(host: str, port: int) -> None:
    s = fresh_socket()
    s.connect((host, port))
    print(wait_error(s, 3, lambda: s.send(b'anyone?')), flush=True)


def udp_oneshot(host: str, port: int) -> None:
    s = fresh_socket()
    s.bind(('::', 0))
    s.sendto(b'answer me later', (host, port))
    print(f'sent from {s.getsockname()[1]}', flush=True)
    s.close()


def udp_answer_late(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(15)
    print('ready', flush=True)
    data, peer = s.recvfrom(2048)
    print(f'got from [{peer[0]}]:{peer[1]}', flush=True)
    time.sleep(0.5)
    s.connect(peer[:2])
    s.settimeout(5)
    print(wait_error(s, 1, lambda: s.send(b'too late: ' + data)), flush=True)
    # The socket stays (a Packet Too Big about its packets needs one) until stdin closes.
    select.select([sys.stdin], [], [], 20)


def ptb(host: str, mtu: int, qsrc: str, qsport: int, qdst: str, qdport: int) -> None:
    udp_len = 1400 - 40
    quoted = struct.pack('!IHBB16s16s', 6 << 28, udp_len, socket.IPPROTO_UDP, 63,
                         socket.inet_pton(socket.AF_INET6, qsrc), socket.inet_pton(socket.AF_INET6, qdst))
    quoted += struct.pack('!HHHH', qsport, qdport, udp_len, 0x1234) + bytes(200)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.sendto(struct.pack('!BBHI', 2, 0, 0, mtu) + quoted, (host, 0))
    print('sent', flush=True)


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == 'udp-refused':
        udp_refused(args[0], int(args[1]))
    elif mode == 'udp-oneshot':
        udp_oneshot(args[0], int(args[1]))
    elif mode == 'udp-answer-late':
        udp_answer_late(args[0], int(args[1]))
    elif mode == 'ptb':
        ptb(args[0], int(args[1]), args[2], int(args[3]), args[4], int(args[5]))
    else:
        print(f'unknown mode {mode}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
