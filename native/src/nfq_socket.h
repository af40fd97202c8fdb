// One NFQUEUE queue over a libmnl netlink socket: configuration, burst reads
// into a caller's buffer and batched verdicts. No N-API here, no threads, no
// exit(): every failure is a negative errno returned to the caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

struct mnl_socket;

namespace nfq {

// Packet record written by readBurst (little-endian), at a fixed stride or
// packed (stride STRIDE_PACKED: each record takes REC_HEADER + its stored
// length rounded up to 4 + REC_ROOM bytes, the next one follows):
constexpr uint32_t REC_ID = 0;        // u32 packet id (kernel order of queueing)
constexpr uint32_t REC_MARK = 4;      // u32 skb mark
constexpr uint32_t REC_LEN = 8;       // u32 payload bytes stored in this record
constexpr uint32_t REC_ORIG_LEN = 12; // u32 packet length before any capping
constexpr uint32_t REC_HOOK = 16;     // u8 netfilter hook
constexpr uint32_t REC_FLAGS = 17;    // u8 REC_F_*
constexpr uint32_t REC_HW_PROTO = 18; // u16 ethertype (0x0800 / 0x86dd)
constexpr uint32_t REC_HEADER = 20;   // payload starts here
constexpr uint8_t REC_F_TRUNCATED = 1;    // payload cut by stride or copy range
constexpr uint8_t REC_F_CSUM_PARTIAL = 2; // L4 checksum holds only the pseudo-header sum
constexpr uint8_t REC_F_GSO = 4;          // an unsegmented GSO super-packet
constexpr uint32_t STRIDE_PACKED = 0;
constexpr uint32_t REC_ROOM = 64;          // packed: bytes after each packet for growth in place
// The most NFQUEUE copies of one packet (a u16 attribute length less its header).
constexpr uint32_t MAX_COPY = 65531;

// Bytes one packed record of `stored` payload bytes takes.
constexpr uint32_t packedSpan(uint32_t stored) { return REC_HEADER + ((stored + 3) & ~3u) + REC_ROOM; }

// Verdict record read by sendVerdicts (little-endian u32 words):
constexpr uint32_t VER_ID = 0;
constexpr uint32_t VER_VERDICT = 4;     // NF_DROP 0, NF_ACCEPT 1, NF_REPEAT 4 ...
constexpr uint32_t VER_FLAGS = 8;       // VER_F_*
constexpr uint32_t VER_MARK = 12;       // applied when VER_F_MARK
constexpr uint32_t VER_PAYLOAD_OFF = 16; // offset into the payload buffer (VER_F_PAYLOAD)
constexpr uint32_t VER_PAYLOAD_LEN = 20;
constexpr uint32_t VER_STRIDE = 24;
constexpr uint32_t VER_F_MARK = 1;
constexpr uint32_t VER_F_PAYLOAD = 2;

struct Options {
  uint32_t queue = 0;
  uint32_t copyRange = 0xffff;
  uint32_t maxLen = 1024;
  bool failOpen = true;
  bool gso = true;
  uint32_t rcvBuf = 4u << 20;
  bool batch = true; // false: one verdict message per packet (for comparison)
  // true: every verdict message goes out in its own sendto, as a consumer that
  // answers packet by packet would (benchmark baseline; implies batch = false).
  bool sendEach = false;
};

struct Stats {
  uint64_t packets = 0;      // records delivered
  uint64_t enobufs = 0;      // kernel dropped messages: socket receive buffer overrun
  uint64_t nlErrors = 0;     // NLMSG_ERROR answers (e.g. a verdict for an unknown id)
  uint64_t malformed = 0;    // messages we could not parse (bad lengths included)
  uint64_t foreign = 0;      // messages not sent by the kernel (sender port id != 0), dropped
  uint64_t verdictMsgs = 0;  // verdict / batch-verdict messages sent
  uint64_t sends = 0;        // sendto calls
  uint64_t recvCalls = 0;    // recvmmsg calls that returned datagrams
};

// Parses one received datagram (netlink messages as the kernel sends them)
// into packet records at `out` (`outLen` bytes), `stride` bytes apart or
// packed (STRIDE_PACKED), at most `max`; returns the count and sets `*used`
// to the bytes the records take. A payload is cut (and flagged truncated)
// only where the record has no room for it. `senderPid` is the sender's netlink port id: anything but 0 (the
// kernel) is dropped whole and counted as foreign. Every length is checked
// against the datagram, the message and the attribute's expected size before
// it is read; what fails is counted as malformed. Pure: no socket, so tests
// can feed it bytes.
uint32_t parseDatagram(const uint8_t* buf, size_t len, uint32_t senderPid, uint8_t* out, size_t outLen,
                       uint32_t stride, uint32_t max, Stats& stats, size_t* used);

class Socket {
 public:
  ~Socket();
  // 0 or -errno. Binds the queue and applies every option; acks are checked.
  int open(const Options& o);
  void close();
  int fd() const;
  // Reads without blocking until `max` records, EAGAIN or the buffer is full
  // (recvmmsg: as many datagrams per call as there is room for whole records).
  // `stride` STRIDE_PACKED packs the records; a datagram is read only while
  // the buffer has room for a whole record of copyRange bytes, so no packet
  // is cut for lack of room. Returns the record count (>= 0) or -errno.
  int readBurst(uint8_t* out, size_t outLen, uint32_t stride, uint32_t max);
  // Turns NFQA_CFG_F_GSO on or off on the bound queue (no ack awaited:
  // packets keep flowing); 0 or -errno.
  int setGso(bool on);
  // Sends verdicts for `n` records; returns messages sent or -errno.
  // batch false: one message per record even where a run could be one batch verdict (a caller that
  // holds some queued packets back: a batch verdict would take them too).
  int sendVerdicts(const uint8_t* recs, uint32_t n, const uint8_t* payload, size_t payloadLen, bool batch = true);
  const Stats& stats() const { return stats_; }
  // Takes the socket's pending error (SO_ERROR), counting ENOBUFS; 0 when none, -errno when unreadable.
  int takeError();

 private:
  int config(bool cmd, uint8_t command);
  int putVerdict(uint32_t type, uint32_t id, uint32_t verdict, const uint8_t* rec,
                 const uint8_t* payload, uint32_t plen);
  int flush();

  mnl_socket* nl_ = nullptr;
  Options opt_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 1;
  std::vector<uint8_t> rx_;
  // readBurst's receive slots: several datagrams per recvmmsg (one syscall per burst, and no
  // trailing EAGAIN read when the burst ends short), each slot rx_.size() bytes.
  std::vector<uint8_t> slots_;
  uint32_t slotCount_ = 0;
  std::vector<uint8_t> tx_;
  size_t txLen_ = 0;
  Stats stats_;
};

}  // namespace nfq
