// Helpers shared by the two halves of nfq::Socket (setup and burst I/O).
#pragma once
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include <cstddef>
#include <cstdint>

namespace nfq {

constexpr size_t TX_FLUSH_AT = 128 * 1024;              // one sendto stays under the socket's sndbuf
constexpr size_t TX_CAPACITY = TX_FLUSH_AT + 70 * 1024; // room for one maximal message past the mark
constexpr uint32_t MAX_PAYLOAD = 65535;
constexpr uint32_t RX_SLOTS_MAX = 64;                   // datagrams per recvmmsg at most

inline void put16(uint8_t* p, uint32_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }
inline uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

struct Attrs { const nlattr* tb[NFQA_MAX + 1]; };

// mnl_attr_parse has checked that the attribute lies inside the message;
// here its length is checked against what its type holds, so no reader goes
// past it. An attribute we read that has the wrong size makes the whole
// message invalid (MNL_CB_ERROR); unknown or newer types are ignored.
inline int collectAttr(const nlattr* attr, void* data) {
  auto* a = static_cast<Attrs*>(data);
  if (mnl_attr_type_valid(attr, NFQA_MAX) <= 0) return MNL_CB_OK;
  uint16_t type = mnl_attr_get_type(attr);
  switch (type) {
    case NFQA_MARK:
    case NFQA_CAP_LEN:
    case NFQA_SKB_INFO:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) return MNL_CB_ERROR;
      break;
    case NFQA_PACKET_HDR:
      // At least the fields we read; a longer header from a newer kernel is fine.
      if (mnl_attr_get_payload_len(attr) < sizeof(nfqnl_msg_packet_hdr)) return MNL_CB_ERROR;
      break;
    default:  // NFQA_PAYLOAD: any length up to the attribute's end (copied up to the record's room)
      break;
  }
  a->tb[type] = attr;
  return MNL_CB_OK;
}

// The message carries at least a whole nfgenmsg after its header.
inline bool hasNfgen(const nlmsghdr* m) { return m->nlmsg_len >= MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg)); }
// An NLMSG_ERROR message holds a whole nlmsgerr.
inline bool hasErr(const nlmsghdr* m) { return m->nlmsg_len >= MNL_NLMSG_HDRLEN + sizeof(nlmsgerr); }

// Collects the attributes after the nfgenmsg into `a`. False unless the
// attributes tile the message exactly (libmnl's mnl_attr_parse stops quietly
// at a short or overlong one, and measures against the message's aligned
// end, which may lie past the datagram) and each has its type's size.
inline bool parseAttrs(const nlmsghdr* m, Attrs& a) {
  if (!hasNfgen(m)) return false;
  const char* p = static_cast<const char*>(mnl_nlmsg_get_payload_offset(m, sizeof(nfgenmsg)));
  const char* tail = reinterpret_cast<const char*>(m) + m->nlmsg_len;
  while (p < tail) {
    auto* attr = reinterpret_cast<const nlattr*>(p);
    if (!mnl_attr_ok(attr, int(tail - p)) || collectAttr(attr, &a) != MNL_CB_OK) return false;
    p += MNL_ALIGN(attr->nla_len);
  }
  return true;
}

// recv that also reports the sender's netlink port id (0: the kernel).
inline ssize_t recvNetlink(int fd, void* buf, size_t len, int flags, uint32_t* senderPid) {
  sockaddr_nl from{};
  socklen_t fromLen = sizeof from;
  ssize_t n = recvfrom(fd, buf, len, flags, reinterpret_cast<sockaddr*>(&from), &fromLen);
  *senderPid = (n >= 0 && fromLen == sizeof from && from.nl_family == AF_NETLINK) ? from.nl_pid : UINT32_MAX;
  return n;
}

// Header + nfgenmsg of a queue message for `queue`, written at `buf`.
nlmsghdr* startMsg(uint8_t* buf, uint16_t type, uint16_t flags, uint32_t seq, uint16_t queue);

}  // namespace nfq
