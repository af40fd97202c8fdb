// NFQUEUE over libmnl and the kernel's uapi headers (MIT; libmnl is LGPL and
// linked dynamically; libnetfilter_queue is deliberately not used).
#include "nfq_socket.h"
#include "nfq_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstring>

namespace nfq {
namespace {

void setBuf(int fd, int force, int plain, uint32_t bytes) {
  int v = int(std::min<uint32_t>(bytes, 1u << 30));
  if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, plain, &v, sizeof v);
}

}  // namespace

nlmsghdr* startMsg(uint8_t* buf, uint16_t type, uint16_t flags, uint32_t seq, uint16_t queue) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = uint16_t((NFNL_SUBSYS_QUEUE << 8) | type);
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(queue);
  return nlh;
}

Socket::~Socket() { close(); }

int Socket::fd() const { return nl_ ? mnl_socket_get_fd(nl_) : -1; }

int Socket::open(const Options& o) {
  if (nl_) return -EALREADY;
  if (o.queue > 65535 || o.copyRange > MAX_PAYLOAD || o.maxLen == 0) return -EINVAL;
  opt_ = o;
  nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!nl_) return -errno;
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    close();
    return -e;
  }
  portid_ = mnl_socket_get_portid(nl_);
  setBuf(fd(), SO_RCVBUFFORCE, SO_RCVBUF, o.rcvBuf);
  setBuf(fd(), SO_SNDBUFFORCE, SO_SNDBUF, 1u << 20);
  rx_.assign(o.copyRange + 8192, 0);
  // About 1 MiB of slots (GSO copy ranges: 14 of 73 KiB; small copy ranges: RX_SLOTS_MAX).
  slotCount_ = uint32_t(std::clamp<size_t>((1u << 20) / rx_.size(), 1, RX_SLOTS_MAX));
  slots_.assign(size_t(slotCount_) * rx_.size(), 0);
  tx_.assign(TX_CAPACITY, 0);
  seq_ = uint32_t(time(nullptr));
  int err = config(true, NFQNL_CFG_CMD_BIND);
  if (err == 0 && fcntl(fd(), F_SETFL, fcntl(fd(), F_GETFL) | O_NONBLOCK) < 0) err = -errno;
  if (err != 0) close();
  return err;
}

// Bind (or unbind) and, when binding, set copy mode/range, queue length and
// flags in the same message: the kernel applies the command first, so no
// packet can be queued with default parameters in between.
int Socket::config(bool bind, uint8_t command) {
  uint32_t seq = ++seq_;
  nlmsghdr* nlh = startMsg(tx_.data(), NFQNL_MSG_CONFIG, NLM_F_ACK, seq, uint16_t(opt_.queue));
  nfqnl_msg_config_cmd cmd{};
  cmd.command = command;
  mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof cmd, &cmd);
  if (bind) {
    nfqnl_msg_config_params params{};
    params.copy_range = htonl(opt_.copyRange);
    params.copy_mode = NFQNL_COPY_PACKET;
    mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof params, &params);
    mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(opt_.maxLen));
    uint32_t flags = (opt_.failOpen ? NFQA_CFG_F_FAIL_OPEN : 0) | (opt_.gso ? NFQA_CFG_F_GSO : 0);
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  }
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return -errno;
  if (!bind) return 0;
  // Wait for our ack. A packet that races in before it is sent back to the
  // hook with NF_REPEAT, so it is queued again rather than lost.
  for (int rounds = 0; rounds < 64; rounds++) {
    uint32_t sender;
    ssize_t n = recvNetlink(fd(), rx_.data(), rx_.size(), 0, &sender);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;
      return -errno;
    }
    if (sender != 0) {
      stats_.foreign++;  // not the kernel: neither our ack nor a packet
      continue;
    }
    int left = int(n);
    for (auto* m = reinterpret_cast<nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
      if (m->nlmsg_type == NLMSG_ERROR && m->nlmsg_seq == seq && hasErr(m)) {
        auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(m));
        return e->error;
      }
      if (m->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
        Attrs a{};
        if (!parseAttrs(m, a) || !a.tb[NFQA_PACKET_HDR]) {
          stats_.malformed++;
          continue;
        }
        auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(a.tb[NFQA_PACKET_HDR]));
        nlmsghdr* v = startMsg(tx_.data(), NFQNL_MSG_VERDICT, 0, 0, uint16_t(opt_.queue));
        nfqnl_msg_verdict_hdr vh{htonl(NF_REPEAT), ph->packet_id};
        mnl_attr_put(v, NFQA_VERDICT_HDR, sizeof vh, &vh);
        mnl_socket_sendto(nl_, v, v->nlmsg_len);
      }
    }
  }
  return -ETIMEDOUT;
}

int Socket::setGso(bool on) {
  if (!nl_) return -EBADF;
  // Its own buffer: tx_ may hold verdicts not sent yet.
  alignas(4) uint8_t buf[256];
  nlmsghdr* nlh = startMsg(buf, NFQNL_MSG_CONFIG, 0, ++seq_, uint16_t(opt_.queue));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO));
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(on ? NFQA_CFG_F_GSO : 0));
  ssize_t r;
  do r = mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  opt_.gso = on;
  return 0;
}

int Socket::takeError() {
  if (!nl_) return -EBADF;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
  if (err == ENOBUFS) stats_.enobufs++;
  return err;
}

void Socket::close() {
  if (!nl_) return;
  if (!tx_.empty()) config(false, NFQNL_CFG_CMD_UNBIND);
  mnl_socket_close(nl_);
  nl_ = nullptr;
  slots_.clear();
  slots_.shrink_to_fit();
}

}  // namespace nfq
