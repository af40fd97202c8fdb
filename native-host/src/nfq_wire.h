// Helpers shared by the two halves of nfq::Socket (setup and burst I/O).
#pragma once
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include <cstddef>
#include <cstdint>

namespace nfq {

constexpr size_t TX_FLUSH_AT = 128 * 1024;              // one sendto stays under the socket's sndbuf
constexpr size_t TX_CAPACITY = TX_FLUSH_AT + 70 * 1024; // room for one maximal message past the mark
constexpr uint32_t MAX_PAYLOAD = 65535;

inline void put16(uint8_t* p, uint32_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }
inline uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

struct Attrs { const nlattr* tb[NFQA_MAX + 1]; };

inline int collectAttr(const nlattr* attr, void* data) {
  auto* a = static_cast<Attrs*>(data);
  if (mnl_attr_type_valid(attr, NFQA_MAX) > 0) a->tb[mnl_attr_get_type(attr)] = attr;
  return MNL_CB_OK;
}

// Header + nfgenmsg of a queue message for `queue`, written at `buf`.
nlmsghdr* startMsg(uint8_t* buf, uint16_t type, uint16_t flags, uint32_t seq, uint16_t queue);

}  // namespace nfq
