// ctnetlink over libmnl for the gateway's fast path (hosts/gateway/ctfeed.ts):
// the conntrack entries the fast path made (ct mark under a mask) as fixed
// 144-byte records, IPv4 and IPv6, from a dump or from the destroy events,
// read in batches without blocking; deletion by mark (one flush with the
// kernel's mark filter) or by original tuple; new marks for many entries in one
// batch (setMarks). In delta mode a dump's records and the destroy events carry
// the counters since the last read (the last values kept here per entry, the
// Ledger: each packet handed over once, whatever the order of dumps, dump
// slices and destroy events). Events: destroy only. The sliced dump's request and
// reads run on a thread of their own (DumpReader: the kernel walks its whole
// conntrack table inside those calls); everything else, the parsing and the
// ledger included, on the caller's thread. It only moves bytes; what the
// records mean for the connection table is decided in TypeScript.
//
// Record (little-endian, CT_REC bytes):
//   0 u8 kind (0 dump, 1 new, 2 update, 3 destroy)  1 u8 protocol
//   2 u8 TCP state (nf_conntrack_tcp: 0 none .. 8 close)
//   3 u8 bit 0: the original side closed first, bit 1: the reply side did
//   4 u32 mark  8 u32 id  12 u32 status  16 u32 timeout (s)
//   20 u32 orig src  24 u32 orig dst  28 u16 orig sport  30 u16 orig dport
//   32 u32 reply src 36 u32 reply dst 40 u16 reply sport 42 u16 reply dport
//   44 u8 family (4 or 6)  48 f64 orig packets  56 f64 orig bytes  64 f64 reply packets  72 f64 reply bytes
//   IPv6 only (zero for IPv4, whose addresses are at 20..39): the addresses as four u32 words each,
//   the core's form (word i = bytes 4i..4i+3 of the address, host order):
//   80 orig src  96 orig dst  112 reply src  128 reply dst
// Addresses and ports as numbers (host order).
#include <napi.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "abi.gen.h"
#include "recv_slots.h"

namespace {

constexpr size_t CT_REC = WASMVS_CT_REC_SIZE;

Napi::Error ctError(Napi::Env env, const char* what, int e) {
  const char* name = strerrorname_np(e);
  Napi::Error err = Napi::Error::New(env, std::string(what) + ": " + strerror(e));
  err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  err.Set("errno", Napi::Number::New(env, -e));
  return err;
}

struct Rec {
  uint8_t kind = 0, proto = 0, tcpState = 0, closeInit = 0;
  uint32_t mark = 0, id = 0, status = 0, timeout = 0;
  uint32_t osrc = 0, odst = 0, rsrc = 0, rdst = 0;
  uint16_t osport = 0, odport = 0, rsport = 0, rdport = 0;
  // IPv6: the four words of each address (the v4 fields stay 0).
  uint32_t osrc6[4] = {}, odst6[4] = {}, rsrc6[4] = {}, rdst6[4] = {};
  double opkts = 0, obytes = 0, rpkts = 0, rbytes = 0;
  bool hasMark = false;
  uint8_t family = 0;  // 4 or 6; 0: not an IP entry we read
};

void put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
void put16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }
void putF(uint8_t* p, double v) { memcpy(p, &v, 8); }

void encode(const Rec& r, uint8_t* p) {
  memset(p, 0, CT_REC);
  p[0] = r.kind;
  p[1] = r.proto;
  p[2] = r.tcpState;
  p[3] = r.closeInit;
  put32(p + 4, r.mark);
  put32(p + 8, r.id);
  put32(p + 12, r.status);
  put32(p + 16, r.timeout);
  put32(p + 20, r.osrc);
  put32(p + 24, r.odst);
  put16(p + 28, r.osport);
  put16(p + 30, r.odport);
  put32(p + 32, r.rsrc);
  put32(p + 36, r.rdst);
  put16(p + 40, r.rsport);
  put16(p + 42, r.rdport);
  putF(p + 48, r.opkts);
  putF(p + 56, r.obytes);
  putF(p + 64, r.rpkts);
  putF(p + 72, r.rbytes);
  p[44] = r.family;
  if (r.family == 6) {
    for (int i = 0; i < 4; i++) {
      put32(p + 80 + 4 * i, r.osrc6[i]);
      put32(p + 96 + 4 * i, r.odst6[i]);
      put32(p + 112 + 4 * i, r.rsrc6[i]);
      put32(p + 128 + 4 * i, r.rdst6[i]);
    }
  }
}

// encode() writes the layout the core's ctApply reads (assembly/abi/layout.ts CT_*).
static_assert(WASMVS_CT_KIND == 0 && WASMVS_CT_PROTO == 1 && WASMVS_CT_STATE == 2 && WASMVS_CT_CLOSE == 3, "CT record head");
static_assert(WASMVS_CT_MARK == 4 && WASMVS_CT_ID == 8 && WASMVS_CT_STATUS == 12 && WASMVS_CT_TIMEOUT == 16, "CT record words");
static_assert(WASMVS_CT_OSRC == 20 && WASMVS_CT_ODST == 24 && WASMVS_CT_OSPORT == 28 && WASMVS_CT_ODPORT == 30, "CT original tuple");
static_assert(WASMVS_CT_RSRC == 32 && WASMVS_CT_RDST == 36 && WASMVS_CT_RSPORT == 40 && WASMVS_CT_RDPORT == 42, "CT reply tuple");
static_assert(WASMVS_CT_FAMILY == 44 && WASMVS_CT_OPKTS == 48 && WASMVS_CT_OBYTES == 56 && WASMVS_CT_RPKTS == 64 && WASMVS_CT_RBYTES == 72, "CT counters");
static_assert(WASMVS_CT_OSRC6 == 80 && WASMVS_CT_ODST6 == 96 && WASMVS_CT_RSRC6 == 112 && WASMVS_CT_RDST6 == 128, "CT IPv6 addresses");

// Nested attributes into a table indexed by type (bounded by `max`).
struct Nest {
  const nlattr* tb[32] = {};
  int max;
  explicit Nest(int m) : max(std::min(m, 31)) {}
};

int nestCb(const nlattr* a, void* data) {
  auto* n = static_cast<Nest*>(data);
  int t = mnl_attr_get_type(a);
  if (t <= n->max) n->tb[t] = a;
  return MNL_CB_OK;
}

bool nested(const nlattr* a, Nest& n) { return a && mnl_attr_parse_nested(a, nestCb, &n) >= 0; }

uint32_t be32(const nlattr* a) { return a && mnl_attr_get_payload_len(a) >= 4 ? ntohl(mnl_attr_get_u32(a)) : 0; }
uint16_t be16(const nlattr* a) { return a && mnl_attr_get_payload_len(a) >= 2 ? ntohs(mnl_attr_get_u16(a)) : 0; }
uint8_t u8(const nlattr* a) { return a && mnl_attr_get_payload_len(a) >= 1 ? mnl_attr_get_u8(a) : 0; }
double be64(const nlattr* a) { return a && mnl_attr_get_payload_len(a) >= 8 ? double(be64toh(mnl_attr_get_u64(a))) : 0; }

// An IPv6 address attribute into four host-order words; false unless it holds 16 bytes.
bool addr6(const nlattr* a, uint32_t w[4]) {
  if (!a || mnl_attr_get_payload_len(a) < 16) return false;
  const auto* b = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  for (int i = 0; i < 4; i++) w[i] = (uint32_t(b[4 * i]) << 24) | (uint32_t(b[4 * i + 1]) << 16) | (uint32_t(b[4 * i + 2]) << 8) | b[4 * i + 3];
  return true;
}

// One tuple: IPv4 (src, dst) or IPv6 (src6, dst6); the family found (4, 6) or 0 when neither is whole.
int tuple(const nlattr* a, uint32_t& src, uint32_t& dst, uint32_t src6[4], uint32_t dst6[4], uint16_t& sport, uint16_t& dport, uint8_t& proto) {
  Nest t(CTA_TUPLE_MAX), ip(CTA_IP_MAX), pr(CTA_PROTO_MAX);
  if (!nested(a, t) || !nested(t.tb[CTA_TUPLE_IP], ip) || !nested(t.tb[CTA_TUPLE_PROTO], pr)) return 0;
  int family = 0;
  if (ip.tb[CTA_IP_V4_SRC] && ip.tb[CTA_IP_V4_DST]) {
    src = be32(ip.tb[CTA_IP_V4_SRC]);
    dst = be32(ip.tb[CTA_IP_V4_DST]);
    family = 4;
  } else if (addr6(ip.tb[CTA_IP_V6_SRC], src6) && addr6(ip.tb[CTA_IP_V6_DST], dst6)) {
    family = 6;
  } else {
    return 0;
  }
  proto = u8(pr.tb[CTA_PROTO_NUM]);
  sport = be16(pr.tb[CTA_PROTO_SRC_PORT]);
  dport = be16(pr.tb[CTA_PROTO_DST_PORT]);
  return family;
}

void counters(const nlattr* a, double& pkts, double& bytes) {
  Nest c(CTA_COUNTERS_MAX);
  if (!nested(a, c)) return;
  pkts = be64(c.tb[CTA_COUNTERS_PACKETS]);
  bytes = be64(c.tb[CTA_COUNTERS_BYTES]);
}

int topCb(const nlattr* a, void* data) {
  auto* n = static_cast<Nest*>(data);
  int t = mnl_attr_get_type(a);
  if (t <= n->max) n->tb[t] = a;
  return MNL_CB_OK;
}

// One IPCTNL_MSG_CT_NEW / _DELETE message into a record; false when it is not an IPv4 or IPv6 entry.
bool parseCt(const nlmsghdr* nlh, Rec& r) {
  Nest top(CTA_MAX);
  if (mnl_attr_parse(nlh, sizeof(nfgenmsg), topCb, &top) < 0) return false;
  uint8_t rproto = 0;
  int family = tuple(top.tb[CTA_TUPLE_ORIG], r.osrc, r.odst, r.osrc6, r.odst6, r.osport, r.odport, r.proto);
  if (!family) return false;
  tuple(top.tb[CTA_TUPLE_REPLY], r.rsrc, r.rdst, r.rsrc6, r.rdst6, r.rsport, r.rdport, rproto);
  r.family = uint8_t(family);
  r.status = be32(top.tb[CTA_STATUS]);
  r.timeout = be32(top.tb[CTA_TIMEOUT]);
  r.id = be32(top.tb[CTA_ID]);
  r.hasMark = top.tb[CTA_MARK] != nullptr;
  r.mark = be32(top.tb[CTA_MARK]);
  counters(top.tb[CTA_COUNTERS_ORIG], r.opkts, r.obytes);
  counters(top.tb[CTA_COUNTERS_REPLY], r.rpkts, r.rbytes);
  Nest pi(CTA_PROTOINFO_MAX), tcp(CTA_PROTOINFO_TCP_MAX);
  if (nested(top.tb[CTA_PROTOINFO], pi) && nested(pi.tb[CTA_PROTOINFO_TCP], tcp)) {
    r.tcpState = u8(tcp.tb[CTA_PROTOINFO_TCP_STATE]);
    const nlattr* fo = tcp.tb[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL];
    const nlattr* fr = tcp.tb[CTA_PROTOINFO_TCP_FLAGS_REPLY];
    if (fo && mnl_attr_get_payload_len(fo) >= 1 && (static_cast<const uint8_t*>(mnl_attr_get_payload(fo))[0] & IP_CT_TCP_FLAG_CLOSE_INIT)) r.closeInit |= 1;
    if (fr && mnl_attr_get_payload_len(fr) >= 1 && (static_cast<const uint8_t*>(mnl_attr_get_payload(fr))[0] & IP_CT_TCP_FLAG_CLOSE_INIT)) r.closeInit |= 2;
  }
  return true;
}

// family: AF_UNSPEC (dumps and flushes: every family), AF_INET or AF_INET6 (a tuple of that family).
nlmsghdr* ctMsg(uint8_t* buf, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family = AF_UNSPEC) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = uint16_t((NFNL_SUBSYS_CTNETLINK << 8) | type);
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

struct Filter {
  uint32_t mark, mask;
  bool ok(const Rec& r) const { return r.family != 0 && (r.mark & mask) == mark; }
};

// Counters as last read, per entry (its id and client port): a dump or destroy event in delta
// mode carries what came since the last read instead of the entry's totals. (The kernel's own
// get-and-zero dump resets a counter before writing it, so an entry that then does not fit the
// dump's message buffer is retried with its counters lost: not usable.)
//
// Every packet is to be handed over once, whatever order the reads come in:
//  - a dump read in slices (dumpBegin/dumpNext) holds records the kernel wrote a while ago (the
//    part not read yet), so an entry's destroy event may be read before the dump's older record
//    of it: while such a dump is under way a destroyed entry stays as a tombstone (its final
//    counters), and the dump's record of it is dropped;
//  - a record older than the last read of its entry (a dump begun before a later one that read
//    the entry already) is dropped too, not taken for a new entry's counters;
//  - a dump of all our entries lets the ledger forget the entries it did not list (gone without a
//    destroy event read: lost in an overrun), but only once the destroy events pending at its end
//    are read: an entry that died during the dump (the dump itself kills the expired entries it
//    walks over) was not listed, and its destroy event, still unread, must find its last counters
//    or it hands over all of them a second time.
struct Acc {
  double op, ob, rp, rb;
  uint64_t epoch;  // the dump that last read the entry
  bool dead;       // a tombstone: destroyed while a sliced dump was under way
};
using AccMap = std::unordered_map<uint64_t, Acc>;
constexpr size_t ACC_MAX = size_t(1) << 22;

class Ledger {
 public:
  // A dump begins: its epoch. sliced: read a part at a time (tombstones until it ends).
  uint64_t begin(bool sliced) {
    if (sliced) slicing_ = true;
    return ++epoch_;
  }
  uint64_t epoch() const { return epoch_; }

  // A listed entry: its counters since the last read; false when the record must be dropped.
  bool listed(Rec& r, uint64_t epoch) {
    uint64_t key = keyOf(r);
    auto it = acc_.find(key);
    if (it == acc_.end()) {
      if (acc_.size() < ACC_MAX) acc_.emplace(key, Acc{r.opkts, r.obytes, r.rpkts, r.rbytes, epoch, false});
      return true;
    }
    Acc& a = it->second;
    if (a.dead) return false;  // its destroy event came first and had everything
    bool below = r.opkts < a.op || r.rpkts < a.rp || r.obytes < a.ob || r.rbytes < a.rb;
    // Below the last read and from a dump begun before it: an older view of the same entry.
    if (below && epoch < a.epoch) return false;
    double op = r.opkts, ob = r.obytes, rp = r.rpkts, rb = r.rbytes;
    // Below the last read otherwise: the same key is a new entry (counts from zero).
    if (!below) {
      r.opkts -= a.op;
      r.obytes -= a.ob;
      r.rpkts -= a.rp;
      r.rbytes -= a.rb;
    }
    a = Acc{op, ob, rp, rb, std::max(a.epoch, epoch), false};
    return true;
  }

  // A destroyed entry: its counters since the last read; forgotten, or a tombstone while a sliced dump is under way.
  void destroyed(Rec& r) {
    uint64_t key = keyOf(r);
    auto it = acc_.find(key);
    double op = r.opkts, ob = r.obytes, rp = r.rpkts, rb = r.rbytes;
    if (it != acc_.end()) {
      Acc& a = it->second;
      // Below the last read, or after another destroy event: a new entry under the same key.
      bool below = a.dead || op < a.op || rp < a.rp || ob < a.ob || rb < a.rb;
      if (!below) {
        r.opkts -= a.op;
        r.obytes -= a.ob;
        r.rpkts -= a.rp;
        r.rbytes -= a.rb;
      }
      if (slicing_) {
        if (!a.dead) tombs_.push_back(key);
        a = Acc{op, ob, rp, rb, a.epoch, true};
      } else {
        acc_.erase(it);
      }
    } else if (slicing_ && acc_.size() < ACC_MAX) {
      acc_.emplace(key, Acc{op, ob, rp, rb, epoch_, true});
      tombs_.push_back(key);
    }
  }

  // The dump of `epoch` is over (complete: it reached its end). prune: it listed every entry of ours.
  void ended(uint64_t epoch, bool sliced, bool complete, bool prune) {
    if (sliced) {
      slicing_ = false;
      for (uint64_t key : tombs_) {
        auto it = acc_.find(key);
        if (it != acc_.end() && it->second.dead) acc_.erase(it);
      }
      tombs_.clear();
    }
    if (complete && prune) prune_ = std::max(prune_, epoch);
  }

  // The destroy events were read to the end (or none are read): a prune waiting for that runs.
  void drained() {
    if (!prune_) return;
    for (auto it = acc_.begin(); it != acc_.end();) {
      if (!it->second.dead && it->second.epoch < prune_) it = acc_.erase(it);
      else ++it;
    }
    prune_ = 0;
  }

  size_t size() const { return acc_.size(); }

 private:
  static uint64_t keyOf(const Rec& r) { return (uint64_t(r.id) << 16) | r.osport; }
  AccMap acc_;
  std::vector<uint64_t> tombs_;
  uint64_t epoch_ = 0, prune_ = 0;
  bool slicing_ = false;
};

struct Collect {
  Filter f;
  std::vector<uint8_t>* out;
  uint8_t kind;
  size_t max;
  Ledger* led = nullptr;  // delta mode when set
  uint64_t epoch = 0;
};

int collectCb(const nlmsghdr* nlh, void* data) {
  auto* c = static_cast<Collect*>(data);
  uint8_t type = uint8_t(nlh->nlmsg_type & 0xff);
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK) return MNL_CB_OK;
  Rec r;
  if (!parseCt(nlh, r) || !c->f.ok(r)) return MNL_CB_OK;
  if (c->kind != 0) r.kind = type == IPCTNL_MSG_CT_DELETE ? 3 : (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) ? 1 : 2;
  if (c->led) {
    if (r.kind == 3) c->led->destroyed(r);
    else if (!c->led->listed(r, c->kind == 0 ? c->epoch : c->led->epoch())) return MNL_CB_OK;
  }
  size_t at = c->out->size();
  c->out->resize(at + CT_REC);
  encode(r, c->out->data() + at);
  return MNL_CB_OK;
}

// CTA_TUPLE_ORIG of an IPv4 (src6 null) or IPv6 entry.
void putTuple(nlmsghdr* nlh, uint8_t proto, uint32_t src, uint32_t dst, const uint32_t* src6, const uint32_t* dst6, uint16_t sport, uint16_t dport) {
  nlattr* t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  if (src6) {
    uint8_t s[16], d[16];
    for (int i = 0; i < 16; i++) {
      s[i] = uint8_t(src6[i / 4] >> (24 - 8 * (i % 4)));
      d[i] = uint8_t(dst6[i / 4] >> (24 - 8 * (i % 4)));
    }
    mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, s);
    mnl_attr_put(nlh, CTA_IP_V6_DST, 16, d);
  } else {
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(src));
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(dst));
  }
  mnl_attr_nest_end(nlh, ip);
  nlattr* pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
  mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
  mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
  mnl_attr_nest_end(nlh, pr);
  mnl_attr_nest_end(nlh, t);
}

// Four address words from a JS value: a Uint32Array or an array of 4 numbers; false otherwise.
bool words6(const Napi::Value& v, uint32_t w[4]) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array) {
    Napi::Uint32Array a = v.As<Napi::Uint32Array>();
    if (a.ElementLength() < 4) return false;
    for (int i = 0; i < 4; i++) w[i] = a[i];
    return true;
  }
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < 4) return false;
  for (uint32_t i = 0; i < 4; i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) return false;
    w[i] = x.As<Napi::Number>().Uint32Value();
  }
  return true;
}

// The sliced dump's socket I/O on a thread of its own. A ctnetlink dump does its work in the
// syscalls that read it: the request's sendto and each recv walk the kernel's whole conntrack hash
// (262,144 buckets by default) until a message buffer is full, and reap the expired entries they
// pass. With a mark filter that matches few entries, one call walks the whole table: 10-30 ms at a
// connection-rate load, during which the gateway's main thread (which also answers the queue)
// answered nothing. Here a reader thread makes those calls and keeps the datagrams as they came;
// the main thread parses them (and runs the ledger) in order, as before, in dumpNext.
class DumpReader {
 public:
  ~DumpReader() { quit(); }

  // Sends `req` on fd and reads the answer until its end (NLMSG_DONE or an error message), in the
  // background. The previous job must have been read to its end, or cancelled (cancel()).
  void start(int fd, const uint8_t* req, size_t len) {
    std::unique_lock<std::mutex> lk(mu_);
    // The last job's end may have been parsed before the thread finished with it: a moment's wait.
    main_.wait(lk, [this] { return !job_; });
    if (!th_.joinable()) th_ = std::thread([this] { run(); });
    fd_ = fd;
    req_.assign(req, req + len);
    chunks_.clear();
    bytes_ = 0;
    cancel_ = false;
    err_ = 0;
    job_ = true;
    cv_.notify_all();
  }

  // Stops the job under way (if any) and waits until the thread no longer touches its socket.
  void cancel() {
    std::unique_lock<std::mutex> lk(mu_);
    if (!job_) return;
    cancel_ = true;
    cv_.notify_all();
    main_.wait(lk, [this] { return !job_; });
    chunks_.clear();
    bytes_ = 0;
  }

  void quit() {
    cancel();
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
      cv_.notify_all();
    }
    if (th_.joinable()) th_.join();
  }

  // The next datagram read (true), or false when none is ready: then `over` says whether the job
  // ended (err: 0, or why it stopped before its end). wait: block until a datagram or the end.
  bool next(std::vector<uint8_t>& into, bool wait, bool& over, int& err) {
    std::unique_lock<std::mutex> lk(mu_);
    if (wait) main_.wait(lk, [this] { return !chunks_.empty() || !job_; });
    if (!chunks_.empty()) {
      into.swap(chunks_.front());
      chunks_.pop_front();
      bytes_ -= into.size();
      cv_.notify_all();  // room again below the cap
      return true;
    }
    over = !job_;
    err = err_;
    return false;
  }

 private:
  // At most this many bytes read ahead of the parser (the dump of a large table waits for it).
  static constexpr size_t CAP = size_t(16) << 20;

  void run() {
    std::vector<uint8_t> buf(65536);
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return quit_ || job_; });
      if (quit_) return;
      int fd = fd_;
      std::vector<uint8_t> req = req_;
      lk.unlock();
      int err = 0;
      bool end = false;
      if (send(fd, req.data(), req.size(), 0) < 0) err = errno;
      // Bounded wait as the synchronous reads: the kernel answers at once; a second without a byte is a failure.
      for (int idle = 0; !err && !end;) {
        {
          std::unique_lock<std::mutex> g(mu_);
          cv_.wait(g, [this] { return cancel_ || bytes_ < CAP; });
          if (cancel_) break;
        }
        ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (++idle > 20) {
              err = ETIMEDOUT;
              break;
            }
            pollfd p{fd, POLLIN, 0};
            poll(&p, 1, 50);
            continue;
          }
          if (errno == EINTR) continue;
          err = errno;
          break;
        }
        idle = 0;
        // The answer's end: NLMSG_DONE, or an error message (the parser reports it).
        int rest = int(n);
        for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(h, rest); h = mnl_nlmsg_next(h, &rest)) {
          if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) end = true;
        }
        std::lock_guard<std::mutex> g(mu_);
        chunks_.emplace_back(buf.begin(), buf.begin() + n);
        bytes_ += size_t(n);
        main_.notify_all();
      }
      lk.lock();
      err_ = err;
      job_ = false;
      main_.notify_all();
    }
  }

  std::thread th_;
  std::mutex mu_;
  std::condition_variable cv_, main_;
  int fd_ = -1;
  std::vector<uint8_t> req_;
  std::deque<std::vector<uint8_t>> chunks_;
  size_t bytes_ = 0;
  bool job_ = false, cancel_ = false, quit_ = false;
  int err_ = 0;
};

class Conntrack : public Napi::ObjectWrap<Conntrack> {
 public:
  static Napi::Function Define(Napi::Env env);

  static Napi::Function DefineOnly(Napi::Env env) {
    return DefineClass(env, "Conntrack",
                       {InstanceMethod<&Conntrack::Dump>("dump"), InstanceMethod<&Conntrack::Events>("events"),
                        InstanceMethod<&Conntrack::Flush>("flush"), InstanceMethod<&Conntrack::Remove>("remove"),
                        InstanceMethod<&Conntrack::SetMarks>("setMarks"), InstanceMethod<&Conntrack::Lookup>("lookup"),
                        InstanceMethod<&Conntrack::DumpBegin>("dumpBegin"), InstanceMethod<&Conntrack::DumpNext>("dumpNext"),
                        InstanceMethod<&Conntrack::DumpActive>("dumpActive"),
                        InstanceMethod<&Conntrack::Stats>("stats"), InstanceMethod<&Conntrack::Close>("close")});
  }

  // Conntrack({ events?: boolean, rcvBuf?: number })
  explicit Conntrack(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Conntrack>(info) {
    Napi::Env env = info.Env();
    bool events = false;
    uint32_t rcvBuf = 8u << 20;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Get("events").IsBoolean()) events = o.Get("events").As<Napi::Boolean>().Value();
      if (o.Get("rcvBuf").IsNumber()) rcvBuf = o.Get("rcvBuf").As<Napi::Number>().Uint32Value();
    }
    req_ = open(0, 1u << 20);
    if (!req_) {
      ctError(env, "ctnetlink socket", errno).ThrowAsJavaScriptException();
      return;
    }
    if (events) {
      // Destroy events only: they carry an entry's final counters, which the next dump could not
      // see; states come from the dumps. (Update events would cost the kernel one message per
      // state change of every tracked flow.)
      ev_ = open(NF_NETLINK_CONNTRACK_DESTROY, rcvBuf);
      if (!ev_) {
        int e = errno;
        closeAll();
        ctError(env, "ctnetlink event groups", e).ThrowAsJavaScriptException();
        return;
      }
    }
    rx_.assign(MNL_SOCKET_BUFFER_SIZE > 32768 ? MNL_SOCKET_BUFFER_SIZE : 32768, 0);
  }

  ~Conntrack() override { closeAll(); }

 private:
  static mnl_socket* open(unsigned groups, uint32_t rcvBuf) {
    mnl_socket* s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (!s) return nullptr;
    if (mnl_socket_bind(s, groups, MNL_SOCKET_AUTOPID) < 0) {
      int e = errno;
      mnl_socket_close(s);
      errno = e;
      return nullptr;
    }
    int v = int(std::min<uint32_t>(rcvBuf, 1u << 30));
    int fd = mnl_socket_get_fd(s);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    // Event overruns are reported (ENOBUFS), never block the kernel.
    return s;
  }

  void closeAll() {
    reader_.quit();  // before its socket goes
    if (req_) mnl_socket_close(req_);
    if (ev_) mnl_socket_close(ev_);
    if (dump_) mnl_socket_close(dump_);
    req_ = ev_ = dump_ = nullptr;
    dumping_ = false;
  }

  bool args(const Napi::CallbackInfo& info, Filter& f) {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(info.Env(), "(mark, mask) numbers required").ThrowAsJavaScriptException();
      return false;
    }
    f.mark = info[0].As<Napi::Number>().Uint32Value();
    f.mask = info[1].As<Napi::Number>().Uint32Value();
    f.mark &= f.mask;
    return true;
  }

  bool alive(Napi::Env env) {
    if (req_) return true;
    Napi::Error::New(env, "conntrack socket closed").ThrowAsJavaScriptException();
    return false;
  }

  // Sends one request and reads its answer (the ack, or a dump until NLMSG_DONE). 0 or an errno.
  int transact(nlmsghdr* nlh, Collect* c) {
    uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(req_);
    if (mnl_socket_sendto(req_, nlh, nlh->nlmsg_len) < 0) return errno;
    for (;;) {
      ssize_t n = recvAnswer();
      if (n < 0) return int(-n);
      int r = mnl_cb_run(rx_.data(), size_t(n), seq, portid, c ? collectCb : nullptr, c);
      if (r == MNL_CB_STOP) return 0;
      if (r < 0) return errno;
      if (!c) return 0;  // an ack without error in a non-dump answer
    }
  }

  // One datagram of answers on the request socket into rx_: its length, or -errno. Bounded wait: the
  // kernel answers a request inside sendto (a dump's next part at once), so a second without a byte
  // is a failure (-ETIMEDOUT).
  ssize_t recvAnswer() {
    for (int idle = 0; idle < 1000; idle++) {
      ssize_t n = recv(mnl_socket_get_fd(req_), rx_.data(), rx_.size(), 0);
      if (n >= 0) return n;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
      timespec ts{0, 1000000};
      nanosleep(&ts, nullptr);
    }
    return -ETIMEDOUT;
  }

  // The answers to `sent` requests sent together (sequence numbers first..first+sent-1) on the request
  // socket: every message of theirs to each(h), until each request's ack (NLMSG_ERROR) came. 0 or an errno.
  template <typename Each>
  int answers(uint32_t first, size_t sent, Each&& each) {
    uint32_t portid = mnl_socket_get_portid(req_);
    for (size_t acks = 0; acks < sent;) {
      ssize_t r = recvAnswer();
      if (r < 0) return int(-r);
      int left = int(r);
      for (auto* h = reinterpret_cast<const nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
        if (h->nlmsg_pid != portid || h->nlmsg_seq - first >= sent) continue;
        if (h->nlmsg_type == NLMSG_ERROR) acks++;
        each(h);
      }
    }
    return 0;
  }

  // dump(mark, mask, deltas?, prune?) → Buffer of records (kind 0), the kernel filtering by mark.
  Napi::Value Dump(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lockAll(mu_);
    Napi::Env env = info.Env();
    Filter f;
    if (!args(info, f) || !alive(env)) return env.Undefined();
    // deltas: the records carry the counters since the last read (the ledger); prune: the dump lists
    // all our entries, so those it did not list are forgotten once the pending destroy events are read.
    bool deltas = info.Length() > 2 && info[2].ToBoolean().Value();
    bool prune = info.Length() > 3 && info[3].ToBoolean().Value();
    uint8_t buf[256];
    nlmsghdr* nlh = ctMsg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, ++seq_);
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(f.mark));
    mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(f.mask));
    out_.clear();
    std::vector<uint8_t>& out = out_;
    uint64_t epoch = deltas ? led_.begin(false) : 0;
    Collect c{f, &out, 0, 0, deltas ? &led_ : nullptr, epoch};
    int e = transact(nlh, &c);
    if (deltas) {
      led_.ended(epoch, false, !e, prune);
      if (!ev_) led_.drained();
    }
    if (e) {
      ctError(env, "conntrack dump", e).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    dumps_++;
    return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
  }

  // A dump read in slices, on a socket of its own (the kernel keeps the dump's place between reads,
  // and the other requests go on meanwhile on the request socket): dumpBegin(mark, mask, deltas?, prune?) sends
  // the request; each dumpNext(max) reads until at least `max` records (or the end) and returns them;
  // dumpActive() says whether more is to come. A dump begun again before its end starts afresh.
  Napi::Value DumpBegin(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lockAll(mu_);
    Napi::Env env = info.Env();
    Filter f;
    if (!args(info, f) || !alive(env)) return env.Undefined();
    bool deltas = info.Length() > 2 && info[2].ToBoolean().Value();
    dumpPrune_ = deltas && info.Length() > 3 && info[3].ToBoolean().Value();
    dumpDeltas_ = deltas;
    if (dump_ && dumping_) {
      // An abandoned dump: its socket still holds the rest; a fresh socket instead.
      reader_.cancel();
      mnl_socket_close(dump_);
      dump_ = nullptr;
      if (dumpDeltas_) led_.ended(dumpEpoch_, true, false, false);
    }
    dumping_ = false;
    if (!dump_ && !(dump_ = open(0, 1u << 20))) {
      ctError(env, "ctnetlink dump socket", errno).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint8_t buf[256];
    nlmsghdr* nlh = ctMsg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, ++seq_);
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(f.mark));
    mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(f.mask));
    dumpEpoch_ = deltas ? led_.begin(true) : 0;
    // The request is sent, and the answer read, by the reader thread (the kernel's walk of the table
    // happens in those calls); dumpNext parses what it read.
    reader_.start(mnl_socket_get_fd(dump_), reinterpret_cast<const uint8_t*>(nlh), nlh->nlmsg_len);
    dumpSeq_ = seq_;
    dumpFilter_ = f;
    dumping_ = true;
    return env.Undefined();
  }

  // dumpNext(max, wait?): the records of what the reader thread read so far, parsed in order until at
  // least `max` (whole datagrams) or none is ready; wait: block until `max` or the dump's end.
  Napi::Value DumpNext(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lockAll(mu_);
    Napi::Env env = info.Env();
    size_t max = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 256;
    bool wait = info.Length() > 1 && info[1].ToBoolean().Value();
    out_.clear();
    if (!dumping_ || !dump_) return Napi::Buffer<uint8_t>::Copy(env, out_.data(), 0);
    Collect c{dumpFilter_, &out_, 0, 0, dumpDeltas_ ? &led_ : nullptr, dumpEpoch_};
    uint32_t portid = mnl_socket_get_portid(dump_);
    int e = 0;
    while (out_.size() / CT_REC < std::max<size_t>(max, 1)) {
      bool over = false;
      if (!reader_.next(chunk_, wait, over, e)) {
        // Nothing ready: the thread is still reading (come back later), or it stopped before the end.
        if (over && !e) e = EPROTO;
        break;
      }
      int r = mnl_cb_run(chunk_.data(), chunk_.size(), dumpSeq_, portid, collectCb, &c);
      if (r == MNL_CB_STOP) {
        dumping_ = false;
        dumps_++;
        if (dumpDeltas_) {
          led_.ended(dumpEpoch_, true, true, dumpPrune_);
          if (!ev_) led_.drained();
        }
        break;
      }
      if (r < 0) {
        e = errno;
        break;
      }
    }
    if (e) {
      dumping_ = false;
      reader_.cancel();
      mnl_socket_close(dump_);  // whatever is left of the dump goes with it
      dump_ = nullptr;
      if (dumpDeltas_) led_.ended(dumpEpoch_, true, false, false);
      ctError(env, "conntrack dump", e).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Buffer<uint8_t>::Copy(env, out_.data(), out_.size());
  }

  Napi::Value DumpActive(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dumping_); }

  // events(mark, mask, max) → Buffer of the pending event records (kinds 1..3) of our marks;
  // reads without blocking until the socket is empty or `max` records.
  Napi::Value Events(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Filter f;
    if (!args(info, f) || !alive(env)) return env.Undefined();
    if (!ev_) {
      Napi::Error::New(env, "conntrack: opened without events").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    size_t max = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 65536;
    // quick: done after a call that found fewer datagrams than it asked for (the socket was empty then),
    // without the call more that would see EAGAIN (or an overrun, which the next full read reports).
    bool quick = info.Length() > 3 && info[3].ToBoolean().Value();
    // target: the records go into this Uint8Array (the core's REGION_CT), at most as many as fit, and
    // the call returns how many; without it, a Buffer of them.
    uint8_t* target = nullptr;
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        Napi::TypeError::New(env, "events(mark, mask, max, quick, target): target must be a Uint8Array").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Uint8Array t = info[4].As<Napi::Uint8Array>();
      target = t.Data();
      max = std::min<size_t>(max, t.ByteLength() / CT_REC);
    }
    std::lock_guard<std::mutex> g(mu_);
    size_t n = readEvents(f, max, quick, target);
    if (target) return Napi::Number::New(env, double(n));
    return Napi::Buffer<uint8_t>::Copy(env, evOut_.data(), evOut_.size());
  }

 public:
  /**
   * The pending destroy events of `f`'s marks (at most `max`) as records, into `target` when given
   * (the count returned; they fit: one datagram is one event) or left in evOut_. The caller holds mu_.
   * For the queue threads (ConntrackEventsInto) as for events().
   */
  size_t readEvents(const Filter& f, size_t max, bool quick, uint8_t* target) {
    std::vector<uint8_t>& out = evOut_;
    out.clear();
    Collect c{f, &out, 1, max, &led_, 0};
    // Each event is a datagram of its own: up to EV_SLOTS of them per recvmmsg (one recv per event
    // before). The loop still ends on EAGAIN: a short call may also mean an error is pending.
    if (evSlots_.empty()) evSlots_.assign(size_t(EV_SLOTS) * EV_SLOT, 0);
    mmsghdr msgs[EV_SLOTS];
    iovec iov[EV_SLOTS];
    while (out.size() / CT_REC < max) {
      // No more datagrams than records still wanted (an event of another mark may leave room unused).
      unsigned want = unsigned(std::min<size_t>(EV_SLOTS, max - out.size() / CT_REC));
      slots::prepare(msgs, iov, nullptr, evSlots_.data(), EV_SLOT, want);
      int got = recvmmsg(mnl_socket_get_fd(ev_), msgs, want, MSG_DONTWAIT, nullptr);
      if (got < 0) {
        if (errno == ENOBUFS) {
          enobufs_++;
          continue;
        }
        // EAGAIN: empty, every destroy event pending until now read (a dump's prune may run).
        if (errno == EAGAIN || errno == EWOULDBLOCK) led_.drained();
        break;
      }
      for (int i = 0; i < got; i++) {
        // An event longer than a slot (none is near it) is lost, as an overrun loses one.
        if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) enobufs_++;
        else mnl_cb_run(evSlots_.data() + size_t(i) * EV_SLOT, msgs[i].msg_len, 0, 0, collectCb, &c);
      }
      datagrams_ += unsigned(got);
      if (quick && unsigned(got) < want) break;
    }
    events_ += out.size() / CT_REC;
    size_t n = std::min(out.size() / CT_REC, max);
    if (target && n) memcpy(target, out.data(), n * CT_REC);
    return n;
  }

  /** Held by every call that reads the sockets or the ledger (Node's thread and the queue threads). */
  std::mutex mu_;
  /** Tells a Conntrack apart from another wrapped object (ConntrackOf). */
  uint32_t magic_ = kMagic;
  static constexpr uint32_t kMagic = 0x63746e6b;
  bool canEvents() const { return req_ != nullptr && ev_ != nullptr; }

 private:
  // flush(mark, mask): deletes every entry (IPv4 and IPv6) whose mark matches (the kernel's flush filter).
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Filter f;
    if (!args(info, f) || !alive(env)) return env.Undefined();
    uint8_t buf[256];
    nlmsghdr* nlh = ctMsg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, ++seq_);
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(f.mark));
    mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(f.mask));
    int e = transact(nlh, nullptr);
    if (e && e != ENOENT) ctError(env, "conntrack flush", e).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // remove(proto, src, dst, sport, dport): deletes the entry with this original tuple; false when none.
  // src and dst: IPv4 addresses as numbers, or IPv6 ones as four words each (Uint32Array or array).
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t s6[4], d6[4];
    bool v4 = info.Length() >= 5 && info[1].IsNumber() && info[2].IsNumber();
    bool v6 = !v4 && info.Length() >= 5 && words6(info[1], s6) && words6(info[2], d6);
    if ((!v4 && !v6) || !info[0].IsNumber() || !info[3].IsNumber() || !info[4].IsNumber()) {
      Napi::TypeError::New(env, "remove(proto, src, dst, sport, dport): addresses as numbers (IPv4) or four words each (IPv6)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!alive(env)) return env.Undefined();
    auto u = [&](int i) { return info[i].As<Napi::Number>().Uint32Value(); };
    uint8_t buf[512];
    nlmsghdr* nlh = ctMsg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, ++seq_, v6 ? AF_INET6 : AF_INET);
    putTuple(nlh, uint8_t(u(0)), v4 ? u(1) : 0, v4 ? u(2) : 0, v6 ? s6 : nullptr, v6 ? d6 : nullptr, uint16_t(u(3)), uint16_t(u(4)));
    int e = transact(nlh, nullptr);
    if (e == ENOENT) return Napi::Boolean::New(env, false);
    if (e) {
      ctError(env, "conntrack delete", e).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Boolean::New(env, true);
  }

  // setMarks(list: Uint32Array, n, v6?, timeoutS?) → how many entries took their new mark (and, with
  // timeoutS > 0, that many seconds left to live, CTA_TIMEOUT). `list` holds n tuples of
  // 6 numbers (protocol, orig src, orig dst, orig sport, orig dport, mark), or with v6 true of 12
  // (protocol, orig src as 4 words, orig dst as 4 words, orig sport, orig dport, mark): one update message each
  // (the original tuple and CTA_MARK), sent together in as few sendto calls as fit, every one acked.
  // An entry gone meanwhile (ENOENT) is skipped.
  Napi::Value SetMarks(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
        !info[1].IsNumber()) {
      Napi::TypeError::New(env, "setMarks(list: Uint32Array, n)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!alive(env)) return env.Undefined();
    Napi::Uint32Array list = info[0].As<Napi::Uint32Array>();
    size_t n = info[1].As<Napi::Number>().Uint32Value();
    bool v6 = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
    uint32_t timeout = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
    size_t width = v6 ? 12 : 6;
    if (n * width > list.ElementLength()) {
      Napi::RangeError::New(env, "setMarks: n tuples do not fit the list").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    constexpr size_t CHUNK = 32768, MSG = 128;
    std::vector<uint8_t> tx(CHUNK);
    size_t done = 0, updated = 0;
    while (done < n) {
      size_t len = 0, sent = 0;
      uint32_t first = seq_ + 1;
      for (; done + sent < n && len + MSG <= CHUNK; sent++) {
        const uint32_t* t = list.Data() + (done + sent) * width;
        nlmsghdr* nlh = ctMsg(tx.data() + len, IPCTNL_MSG_CT_NEW, NLM_F_ACK, ++seq_, v6 ? AF_INET6 : AF_INET);
        if (v6) putTuple(nlh, uint8_t(t[0]), 0, 0, t + 1, t + 5, uint16_t(t[9]), uint16_t(t[10]));
        else putTuple(nlh, uint8_t(t[0]), t[1], t[2], nullptr, nullptr, uint16_t(t[3]), uint16_t(t[4]));
        mnl_attr_put_u32(nlh, CTA_MARK, htonl(t[width - 1]));
        if (timeout) mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout));
        len += NLMSG_ALIGN(nlh->nlmsg_len);
      }
      if (mnl_socket_sendto(req_, tx.data(), len) < 0) {
        ctError(env, "conntrack mark update", errno).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      int e = answers(first, sent, [&](const nlmsghdr* h) {
        if (h->nlmsg_type == NLMSG_ERROR && static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h))->error == 0) updated++;
      });
      if (e) {
        ctError(env, "conntrack mark update", e).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      done += sent;
    }
    marks_ += updated;
    return Napi::Number::New(env, double(updated));
  }

  // lookup(recs: Uint8Array, n, mark, mask) → Buffer of records (kind 0, counters since the last
  // read, as a dump in delta mode): the entries with the original tuples of the n records at the
  // start of `recs` (CT_REC_SIZE each: protocol, family and original tuple read; the core's
  // ctTrackNext writes them), one IPCTNL_MSG_CT_GET each, sent together in as few sendto calls as
  // fit, every one acked. Each is a hash lookup in the kernel: no walk of the conntrack table with
  // softirqs off (bench/gateway/ANALYSIS.md). An entry gone (ENOENT) or not matching mark/mask is
  // left out; a GET of an expired entry reaps it, and its destroy event follows on the event socket.
  Napi::Value Lookup(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lockAll(mu_);
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
      Napi::TypeError::New(env, "lookup(recs: Uint8Array, n, mark, mask)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!alive(env)) return env.Undefined();
    Napi::Uint8Array recs = info[0].As<Napi::Uint8Array>();
    size_t n = info[1].As<Napi::Number>().Uint32Value();
    Filter f{info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value()};
    f.mark &= f.mask;
    if (n * CT_REC > recs.ByteLength()) {
      Napi::RangeError::New(env, "lookup: n records do not fit").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Read in place (the core's memory, as ctTrackNext wrote it): no JS runs meanwhile, and answers go to out_.
    const uint8_t* in = recs.Data();
    out_.clear();
    uint64_t epoch = led_.begin(false);
    Collect c{f, &out_, 0, 0, &led_, epoch};
    constexpr size_t CHUNK = 32768, MSG = 160;
    std::vector<uint8_t> tx(CHUNK);
    size_t done = 0;
    int err = 0;
    auto get32 = [](const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; };
    auto get16 = [](const uint8_t* p) { uint16_t v; memcpy(&v, p, 2); return v; };
    while (done < n && !err) {
      size_t len = 0, sent = 0;
      uint32_t first = seq_ + 1;
      for (; done + sent < n && len + MSG <= CHUNK; sent++) {
        const uint8_t* r = in + (done + sent) * CT_REC;
        bool v6 = r[WASMVS_CT_FAMILY] == 6;
        nlmsghdr* nlh = ctMsg(tx.data() + len, IPCTNL_MSG_CT_GET, NLM_F_ACK, ++seq_, v6 ? AF_INET6 : AF_INET);
        if (v6) {
          uint32_t s6[4], d6[4];
          for (int w = 0; w < 4; w++) {
            s6[w] = get32(r + WASMVS_CT_OSRC6 + 4 * w);
            d6[w] = get32(r + WASMVS_CT_ODST6 + 4 * w);
          }
          putTuple(nlh, r[WASMVS_CT_PROTO], 0, 0, s6, d6, get16(r + WASMVS_CT_OSPORT), get16(r + WASMVS_CT_ODPORT));
        } else {
          putTuple(nlh, r[WASMVS_CT_PROTO], get32(r + WASMVS_CT_OSRC), get32(r + WASMVS_CT_ODST), nullptr, nullptr,
                   get16(r + WASMVS_CT_OSPORT), get16(r + WASMVS_CT_ODPORT));
        }
        len += NLMSG_ALIGN(nlh->nlmsg_len);
      }
      if (mnl_socket_sendto(req_, tx.data(), len) < 0) {
        err = errno;
        break;
      }
      // The kernel answered every request inside sendto: the entry, then the ack; or an error ack.
      err = answers(first, sent, [&](const nlmsghdr* h) {
        if (h->nlmsg_type != NLMSG_ERROR) {
          collectCb(h, &c);
          return;
        }
        int e = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h))->error;
        if (e != 0 && e != ENOENT) {
          lookupErrors_++;
          lookupErrno_ = e;
        }
      });
      done += sent;
    }
    led_.ended(epoch, false, !err, false);
    if (!ev_) led_.drained();
    if (err) {
      ctError(env, "conntrack lookup", err).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    lookups_ += n;
    return Napi::Buffer<uint8_t>::Copy(env, out_.data(), out_.size());
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("dumps", double(dumps_));
    o.Set("events", double(events_));
    o.Set("datagrams", double(datagrams_));
    o.Set("enobufs", double(enobufs_));
    o.Set("marks", double(marks_));
    o.Set("lookups", double(lookups_));
    o.Set("lookupErrors", double(lookupErrors_));
    o.Set("lookupErrno", double(lookupErrno_));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lockAll(mu_);
    closeAll();
    return info.Env().Undefined();
  }

  mnl_socket* req_ = nullptr;
  mnl_socket* ev_ = nullptr;
  // The sliced dump's socket (opened at its first use), its request and filter, and whether it is under way.
  mnl_socket* dump_ = nullptr;
  uint32_t dumpSeq_ = 0;
  Filter dumpFilter_{0, 0};
  bool dumping_ = false;
  bool dumpDeltas_ = false, dumpPrune_ = false;
  uint64_t dumpEpoch_ = 0;
  // The sliced dump's reads (a thread), and the datagram being parsed.
  DumpReader reader_;
  std::vector<uint8_t> chunk_;
  // Counters as last read per entry (delta mode).
  Ledger led_;
  std::vector<uint8_t> rx_;
  // events(): the records of one call (kept: no allocation per call).
  std::vector<uint8_t> evOut_;
  // events(): receive slots for recvmmsg, EV_SLOT bytes each (a destroy event takes a few hundred).
  static constexpr unsigned EV_SLOTS = 64, EV_SLOT = 4096;
  std::vector<uint8_t> evSlots_;
  // The dump's records, kept between dumps (no reallocation as the table grows and shrinks).
  std::vector<uint8_t> out_;
  uint32_t seq_ = uint32_t(time(nullptr));
  uint64_t dumps_ = 0, events_ = 0, datagrams_ = 0, enobufs_ = 0, marks_ = 0, lookups_ = 0, lookupErrors_ = 0;
  int lookupErrno_ = 0;
};

// Test-only (Conntrack.LedgerForTest): the delta ledger alone, fed crafted netlink bytes in any order,
// so the order of dumps, slices and destroy events can be replayed without a kernel:
// begin(sliced) → epoch; dump(bytes, epoch, mark, mask) → records; events(bytes, mark, mask) → records;
// end(epoch, sliced, complete, prune); drained(); size().
class LedgerForTest : public Napi::ObjectWrap<LedgerForTest> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LedgerForTest",
                       {InstanceMethod<&LedgerForTest::Begin>("begin"), InstanceMethod<&LedgerForTest::Dump>("dump"),
                        InstanceMethod<&LedgerForTest::Events>("events"), InstanceMethod<&LedgerForTest::End>("end"),
                        InstanceMethod<&LedgerForTest::Drained>("drained"), InstanceMethod<&LedgerForTest::Size>("size")});
  }
  explicit LedgerForTest(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LedgerForTest>(info) {}

 private:
  Ledger led_;
  static double num(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0; }
  Napi::Value Begin(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(led_.begin(info.Length() > 0 && info[0].ToBoolean().Value())));
  }
  Napi::Value Parse(const Napi::CallbackInfo& info, uint8_t kind, size_t at, uint64_t epoch) {
    Napi::Env env = info.Env();
    if (info.Length() <= at + 1 || !info[0].IsTypedArray()) {
      Napi::TypeError::New(env, "(bytes, ..., mark, mask)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array in = info[0].As<Napi::Uint8Array>();
    Filter f{uint32_t(num(info, at)), uint32_t(num(info, at + 1))};
    f.mark &= f.mask;
    std::vector<uint8_t> out;
    Collect c{f, &out, kind, 1u << 20, &led_, epoch};
    mnl_cb_run(in.Data(), in.ByteLength(), 0, 0, collectCb, &c);
    return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
  }
  Napi::Value Dump(const Napi::CallbackInfo& info) { return Parse(info, 0, 2, uint64_t(num(info, 1))); }
  Napi::Value Events(const Napi::CallbackInfo& info) { return Parse(info, 1, 1, 0); }
  Napi::Value End(const Napi::CallbackInfo& info) {
    auto flag = [&](size_t i) { return info.Length() > i && info[i].ToBoolean().Value(); };
    led_.ended(uint64_t(num(info, 0)), flag(1), flag(2), flag(3));
    return info.Env().Undefined();
  }
  Napi::Value Drained(const Napi::CallbackInfo& info) {
    led_.drained();
    return info.Env().Undefined();
  }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(led_.size())); }
};

Napi::Function Conntrack::Define(Napi::Env env) {
  Napi::Function c = DefineOnly(env);
  c.Set("LedgerForTest", LedgerForTest::Define(env));
  return c;
}

}  // namespace

Napi::Function DefineConntrack(Napi::Env env) { return Conntrack::Define(env); }

void* ConntrackOf(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  void* p = nullptr;
  if (napi_unwrap(v.Env(), v, &p) != napi_ok || p == nullptr) return nullptr;
  // Only a Conntrack (not another of the addon's wrapped objects).
  return static_cast<Conntrack*>(p)->magic_ == Conntrack::kMagic ? p : nullptr;
}

int ConntrackEventsInto(void* ct, uint32_t mark, uint32_t mask, size_t max, bool quick, uint8_t* target) {
  auto* c = static_cast<Conntrack*>(ct);
  std::lock_guard<std::mutex> g(c->mu_);
  if (!c->canEvents()) return -ENOTCONN;
  return int(c->readEvents(Filter{mark & mask, mask}, max, quick, target));
}

// Test-only: records from crafted netlink bytes (no socket): parseCtForTest(bytes, mark, mask) → Buffer.
Napi::Value ParseCtForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "parseCtForTest(bytes, mark, mask)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array in = info[0].As<Napi::Uint8Array>();
  Filter f{info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Uint32Value()};
  std::vector<uint8_t> out;
  Collect c{f, &out, 1, 1u << 20};
  mnl_cb_run(in.Data(), in.ByteLength(), 0, 0, collectCb, &c);
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}
