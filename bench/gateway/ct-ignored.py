# Raw-socket TCP client of ct-ignored.sh: SRC DST SPORT DPORT MODE. A SYN, the server's SYN/ACK, then
#   synack        the SYN again (same ISN, as a client whose first SYN was answered late), then the ACK
#   late-ack      the ACK 1.3 s late (the server repeats its SYN/ACK meanwhile)
#   ack-then-syn  the ACK, then the SYN again
# and prints the server's packets it saw (the client's own stack must not reset them: ct-ignored.sh drops
# its RSTs). Bounded: every wait has a timeout.
import socket, struct, sys, time, random
src, dst, sport, dport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
def tcp(seq, ack, flags):
    hdr = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr))
    c = csum(ph + hdr)
    return hdr[:16] + struct.pack('!H', c) + hdr[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.settimeout(3)
isn = random.randrange(1 << 32)
SYN, ACK = 0x02, 0x10
s.sendto(tcp(isn, 0, SYN), (dst, 0))
while True:
    p, _ = s.recvfrom(2048)
    ihl = (p[0] & 15) * 4
    sp, dp, seq, ack, off, fl = struct.unpack('!HHIIBB', p[ihl:ihl+14])
    if dp == sport and fl & 0x12 == 0x12:
        print('synack', seq, ack); break
mode = sys.argv[5] if len(sys.argv) > 5 else 'synack'
if mode == 'synack':
    time.sleep(0.05)
    s.sendto(tcp(isn, 0, SYN), (dst, 0))           # the client's SYN again (crossed the SYN/ACK)
    s.sendto(tcp(isn + 1, seq + 1, ACK), (dst, 0))  # then its ACK of the first SYN/ACK
elif mode == 'late-ack':
    time.sleep(1.3)                                 # the server retransmits its SYN/ACK meanwhile
    s.sendto(tcp(isn + 1, seq + 1, ACK), (dst, 0))
elif mode == 'ack-then-syn':
    s.sendto(tcp(isn + 1, seq + 1, ACK), (dst, 0))
    time.sleep(0.05)
    s.sendto(tcp(isn, 0, SYN), (dst, 0))
t0 = time.time(); n = 0
while time.time() - t0 < 1.5:
    try: p, _ = s.recvfrom(2048)
    except socket.timeout: break
    ihl = (p[0] & 15) * 4
    sp, dp, sq, ak, off, fl = struct.unpack('!HHIIBB', p[ihl:ihl+14])
    if dp == sport: n += 1; print('got flags=%#x seq=%d' % (fl, sq))
print('done', n)
