// The hot half of nfq::Socket: burst reads into a caller's buffer and
// batched verdicts. Nothing here allocates; both buffers were sized at open.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "nfq_socket.h"
#include "recv_slots.h"
#include "nfq_wire.h"

namespace nfq {

constexpr uint16_t PACKET_TYPE = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;

namespace {

// Writes one record at `out`, which has `room` bytes for it (header, payload
// and, when packed, REC_ROOM); returns the bytes the record takes, 0 if the
// message was not a well-formed packet or there was no room (counted as malformed).
size_t packetRecord(const nlmsghdr* nlh, uint8_t* out, size_t room, bool packed, Stats& stats) {
  size_t reserve = REC_HEADER + (packed ? REC_ROOM : 0);
  if (room < reserve) {
    stats.malformed++;
    return 0;
  }
  Attrs a{};
  if (!parseAttrs(nlh, a) || !a.tb[NFQA_PACKET_HDR]) {
    stats.malformed++;
    return 0;
  }
  auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(a.tb[NFQA_PACKET_HDR]));
  const uint8_t* data = nullptr;
  uint32_t plen = 0;
  if (a.tb[NFQA_PAYLOAD]) {
    data = static_cast<const uint8_t*>(mnl_attr_get_payload(a.tb[NFQA_PAYLOAD]));
    plen = mnl_attr_get_payload_len(a.tb[NFQA_PAYLOAD]);
  }
  uint32_t orig = a.tb[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(a.tb[NFQA_CAP_LEN])) : plen;
  uint32_t info = a.tb[NFQA_SKB_INFO] ? ntohl(mnl_attr_get_u32(a.tb[NFQA_SKB_INFO])) : 0;
  uint32_t stored = uint32_t(std::min<size_t>(plen, room - reserve));
  uint8_t flags = (stored < orig ? REC_F_TRUNCATED : 0) |
                  ((info & NFQA_SKB_CSUMNOTREADY) ? REC_F_CSUM_PARTIAL : 0) |
                  ((info & NFQA_SKB_GSO) ? REC_F_GSO : 0);
  put32(out + REC_ID, ntohl(ph->packet_id));
  put32(out + REC_MARK, a.tb[NFQA_MARK] ? ntohl(mnl_attr_get_u32(a.tb[NFQA_MARK])) : 0);
  put32(out + REC_LEN, stored);
  put32(out + REC_ORIG_LEN, orig);
  out[REC_HOOK] = ph->hook;
  out[REC_FLAGS] = flags;
  put16(out + REC_HW_PROTO, ntohs(ph->hw_protocol));
  if (stored) memcpy(out + REC_HEADER, data, stored);
  stats.packets++;
  return packed ? packedSpan(stored) : room;
}

}  // namespace

uint32_t parseDatagram(const uint8_t* buf, size_t len, uint32_t senderPid, uint8_t* out, size_t outLen,
                       uint32_t stride, uint32_t max, Stats& stats, size_t* used) {
  *used = 0;
  if (senderPid != 0) {
    // Any process in the namespace may unicast to our port id; only the kernel queues packets.
    stats.foreign++;
    return 0;
  }
  bool packed = stride == STRIDE_PACKED;
  if (!packed && stride < REC_HEADER) return 0;
  uint32_t count = 0;
  size_t at = 0;
  int left = int(std::min<size_t>(len, INT32_MAX));
  // mnl_nlmsg_ok: the header fits and nlmsg_len neither undercuts it nor runs past the datagram.
  for (auto* m = reinterpret_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
    if (m->nlmsg_type == NLMSG_ERROR) {
      if (!hasErr(m)) stats.malformed++;
      else if (static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m))->error != 0) stats.nlErrors++;
    } else if (m->nlmsg_type == PACKET_TYPE && count < max) {
      size_t room = outLen - at;
      if (!packed) room = room < stride ? 0 : stride;
      size_t took = packetRecord(m, out + at, room, packed, stats);
      if (took) {
        at += took;
        count++;
      }
    } else if (m->nlmsg_type == PACKET_TYPE) {
      stats.malformed++;  // only reachable if the kernel ever packs several packets per datagram
    }
  }
  *used = at;
  return count;
}

int Socket::readBurst(uint8_t* out, size_t outLen, uint32_t stride, uint32_t max) {
  if (!nl_) return -EBADF;
  bool packed = stride == STRIDE_PACKED;
  if (!packed && (stride < REC_HEADER + 40 || stride % 4 != 0)) return -EINVAL;
  uint32_t cap = packed ? max : std::min<uint32_t>(max, uint32_t(outLen / stride));
  // Room a record must have before a datagram is read: a whole copy range.
  size_t need = packed ? packedSpan(std::min(opt_.copyRange, MAX_COPY)) : stride;
  size_t slot = rx_.size();
  mmsghdr msgs[RX_SLOTS_MAX];
  iovec iov[RX_SLOTS_MAX];
  sockaddr_nl from[RX_SLOTS_MAX];
  uint32_t count = 0;
  size_t at = 0;
  // The kernel sends one packet per datagram, so a call asks for no more datagrams than
  // whole records fit (and `max` allows); a packet never has to be dropped for lack of room.
  // A call that returns fewer than it asked for found the socket empty: the burst ends there.
  while (count < cap && outLen - at >= need) {
    uint32_t want = uint32_t(std::min<size_t>({size_t(cap - count), (outLen - at) / need, size_t(slotCount_)}));
    slots::prepare(msgs, iov, from, slots_.data(), slot, want);
    int got = recvmmsg(fd(), msgs, want, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        stats_.enobufs++;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return count > 0 ? int(count) : -errno;
    }
    stats_.recvCalls++;
    for (int i = 0; i < got; i++) {
      const msghdr& h = msgs[i].msg_hdr;
      uint32_t sender = (h.msg_namelen == sizeof from[i] && from[i].nl_family == AF_NETLINK) ? from[i].nl_pid : UINT32_MAX;
      size_t took = 0;
      count += parseDatagram(slots_.data() + size_t(i) * slot, msgs[i].msg_len, sender, out + at, outLen - at, stride,
                             cap - count, stats_, &took);
      at += took;
    }
    if (uint32_t(got) < want) break;
  }
  return int(count);
}

int Socket::flush() {
  if (txLen_ == 0) return 0;
  ssize_t r;
  do r = mnl_socket_sendto(nl_, tx_.data(), txLen_);
  while (r < 0 && errno == EINTR);
  txLen_ = 0;
  stats_.sends++;
  return r < 0 ? -errno : 0;
}

int Socket::putVerdict(uint32_t type, uint32_t id, uint32_t verdict, const uint8_t* rec,
                       const uint8_t* payload, uint32_t plen) {
  uint32_t flags = get32(rec + VER_FLAGS);
  size_t need = MNL_ALIGN(sizeof(nlmsghdr)) + MNL_ALIGN(sizeof(nfgenmsg)) +
                MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(nfqnl_msg_verdict_hdr)) + MNL_ATTR_HDRLEN + 4 +
                MNL_ATTR_HDRLEN + MNL_ALIGN(plen);
  if (txLen_ > 0 && txLen_ + need > TX_FLUSH_AT) {
    int err = flush();
    if (err) return err;
  }
  nlmsghdr* nlh = startMsg(tx_.data() + txLen_, uint16_t(type), 0, ++seq_, uint16_t(opt_.queue));
  nfqnl_msg_verdict_hdr vh{htonl(verdict), htonl(id)};
  mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof vh, &vh);
  if (flags & VER_F_MARK) mnl_attr_put_u32(nlh, NFQA_MARK, htonl(get32(rec + VER_MARK)));
  if (flags & VER_F_PAYLOAD) mnl_attr_put(nlh, NFQA_PAYLOAD, plen, payload);
  txLen_ += MNL_ALIGN(nlh->nlmsg_len);
  stats_.verdictMsgs++;
  return 0;
}

// Records must be in the order the packets were read. A run of two or more
// records with ascending ids, the same verdict and mark and no new payload
// becomes one NFQNL_MSG_VERDICT_BATCH for the run's last id: the kernel
// applies it to every queued id <= that one, which are exactly the run's
// packets because every earlier record's verdict precedes it in the buffer
// (unless the caller holds some back: then it passes batch = false).
int Socket::sendVerdicts(const uint8_t* recs, uint32_t n, const uint8_t* payload, size_t payloadLen, bool batch) {
  if (!nl_) return -EBADF;
  bool ascending = true;  // batching is only sound over a strictly ascending list
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* r = recs + size_t(i) * VER_STRIDE;
    if (i > 0 && get32(r + VER_ID) <= get32(r - VER_STRIDE + VER_ID)) ascending = false;
    if (!(get32(r + VER_FLAGS) & VER_F_PAYLOAD)) continue;
    uint64_t off = get32(r + VER_PAYLOAD_OFF), len = get32(r + VER_PAYLOAD_LEN);
    if (len > MAX_PAYLOAD || off + len > payloadLen) return -EINVAL;
  }
  uint64_t before = stats_.verdictMsgs;
  uint32_t i = 0;
  while (i < n) {
    const uint8_t* r = recs + size_t(i) * VER_STRIDE;
    uint32_t flags = get32(r + VER_FLAGS), verdict = get32(r + VER_VERDICT);
    uint32_t j = i + 1;
    if (batch && opt_.batch && ascending && !(flags & VER_F_PAYLOAD)) {
      while (j < n) {
        const uint8_t* q = recs + size_t(j) * VER_STRIDE;
        if (get32(q + VER_FLAGS) != flags || get32(q + VER_VERDICT) != verdict ||
            ((flags & VER_F_MARK) && get32(q + VER_MARK) != get32(r + VER_MARK)))
          break;
        j++;
      }
    }
    int err;
    if (j - i >= 2) {
      err = putVerdict(NFQNL_MSG_VERDICT_BATCH, get32(recs + size_t(j - 1) * VER_STRIDE + VER_ID), verdict, r, nullptr, 0);
    } else {
      bool has = flags & VER_F_PAYLOAD;
      err = putVerdict(NFQNL_MSG_VERDICT, get32(r + VER_ID), verdict, r,
                       has ? payload + get32(r + VER_PAYLOAD_OFF) : nullptr, has ? get32(r + VER_PAYLOAD_LEN) : 0);
    }
    // Per-packet mode: this message leaves now, alone, in its own sendto.
    if (!err && opt_.sendEach) err = flush();
    if (err) return err;
    i = j;
  }
  int err = flush();
  return err ? err : int(stats_.verdictMsgs - before);
}

}  // namespace nfq
