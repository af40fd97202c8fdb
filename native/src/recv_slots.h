// Receiving several netlink datagrams in one recvmmsg(2): the message headers
// over `n` consecutive slots of `slot` bytes from `base`, one datagram each
// (the NFQUEUE burst read, the conntrack destroy events).
#pragma once
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace slots {

// `from`: where each sender's address goes (nullptr: not asked for).
inline void prepare(mmsghdr* msgs, iovec* iov, sockaddr_nl* from, uint8_t* base, size_t slot, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    iov[i] = {base + size_t(i) * slot, slot};
    msgs[i] = {};
    if (from != nullptr) {
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
}

}  // namespace slots
