// A queue's thread deciding on the native core (nfq_thread.h).
#include "nfq_thread.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "abi.gen.h"
#include "core_native.h"
#include "nfq_wire.h"

// ct_socket.cc
void* ConntrackOf(Napi::Value v);
int ConntrackEventsInto(void* ct, uint32_t mark, uint32_t mask, size_t max, bool quick, uint8_t* target);

namespace nfq {

namespace {

uint64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// held.ts verdictSlot: the real server a verdict sends its packet to, when rules may be needed for it.
int64_t verdictSlot(uint32_t flags, uint32_t mark) {
  if ((flags & WASMVS_GW_VF_PAYLOAD) && (flags & WASMVS_GW_VF_NAT_IN)) return mark & WASMVS_GW_DR_SLOT_MASK;
  if ((flags & WASMVS_GW_VF_MARK) && !(flags & WASMVS_GW_VF_PAYLOAD) && (mark & ~WASMVS_GW_DR_SLOT_MASK) == WASMVS_GW_DR_MARK_BASE)
    return mark & WASMVS_GW_DR_SLOT_MASK;
  return -1;
}

}  // namespace

QueueThread::QueueThread(Socket& sock, std::mutex& sockMu, wasmvs::CoreInstance* core, const ThreadOptions& o,
                         void (*notify)(void*), void* notifyCtx)
    : sock_(sock), sockMu_(sockMu), core_(core), opt_(o), notify_(notify), notifyCtx_(notifyCtx) {}

QueueThread::~QueueThread() {
  quit();
  if (wake_ >= 0) ::close(wake_);
}

int QueueThread::init() {
  if (opt_.area <= 0) return -EINVAL;
  fnIoUse_ = wasmvs::CoreExport("ioUse");
  fnIoBase_ = wasmvs::CoreExport("getIoBase");
  fnStale_ = wasmvs::CoreExport("gwStaleSyns");
  fnBurst_ = wasmvs::CoreExport("gwBurst");
  if (fnIoUse_ < 0 || fnIoBase_ < 0 || fnStale_ < 0 || fnBurst_ < 0) return -ENOSYS;
  {
    // The area's block is made now, once: its address never changes after.
    std::lock_guard<std::mutex> g(wasmvs::CoreMutex(core_));
    core_value_t a[1], r;
    a[0].i = opt_.area;
    if (wasmvs::CoreCall(core_, fnIoUse_, a, &r) != 0 || r.i < 0) return -ENOMEM;
    int prev = r.i;
    bool ok = wasmvs::CoreCall(core_, fnIoBase_, a, &r) == 0;
    areaBase_ = uint32_t(r.i);
    a[0].i = prev;
    wasmvs::CoreCall(core_, fnIoUse_, a, &r);
    if (!ok) return -ENOMEM;
  }
  wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_ < 0) return -errno;
  ready_.assign(size_t(WASMVS_GW_DR_SLOT_MASK) + 1, 0);
  return 0;
}

int QueueThread::useConntrack(const CtOptions& c) {
  fnCtApply_ = wasmvs::CoreExport("ctApply");
  if (fnCtApply_ < 0 || c.ct == nullptr) return -ENOSYS;
  std::lock_guard<std::mutex> b(burstMu_);
  ct_ = c;
  return 0;
}

void QueueThread::resume() {
  std::lock_guard<std::mutex> g(mu_);
  running_ = true;
  if (!th_.joinable()) th_ = std::thread([this] { run(); });
  cv_.notify_all();
}

void QueueThread::pause() {
  {
    std::lock_guard<std::mutex> g(mu_);
    running_ = false;
  }
  uint64_t one = 1;
  if (wake_ >= 0) (void)!::write(wake_, &one, sizeof one);
  // A burst under way ends first (the thread takes burstMu_ for each one and checks running_ under it).
  std::lock_guard<std::mutex> b(burstMu_);
}

void QueueThread::quit() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
    running_ = false;
    cv_.notify_all();
  }
  uint64_t one = 1;
  if (wake_ >= 0) (void)!::write(wake_, &one, sizeof one);
  if (th_.joinable()) th_.join();
}

bool QueueThread::take(Handed& out) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!pending_ || taken_) return false;
    std::swap(out, handed_);
    taken_ = true;
  }
  return true;
}

void QueueThread::done() {
  std::lock_guard<std::mutex> g(mu_);
  if (!taken_) return;
  taken_ = false;
  pending_ = false;
  cv_.notify_all();
}

void QueueThread::setReady(const uint32_t* slots, size_t n) {
  // A bit per slot (128 KiB), built outside the lock in the buffer the last round let go, then swapped
  // in: no allocation per round of rules, and the thread waits only for the swap.
  std::vector<uint64_t> next;
  {
    std::lock_guard<std::mutex> g(readyMu_);
    next.swap(spare_);
  }
  next.assign((size_t(WASMVS_GW_DR_SLOT_MASK) + 1) / 64, 0);
  for (size_t i = 0; i < n; i++) {
    uint32_t s = slots[i] & WASMVS_GW_DR_SLOT_MASK;
    next[s >> 6] |= uint64_t(1) << (s & 63);
  }
  std::lock_guard<std::mutex> g(readyMu_);
  ready_.swap(next);
  spare_.swap(next);
}

ThreadStats QueueThread::stats() {
  std::lock_guard<std::mutex> g(statsMu_);
  return stats_;
}

uint32_t QueueThread::nowSeconds() const {
  double sec = opt_.clockSeconds + double(int64_t(monoNs() - opt_.clockNs)) / 1e9;
  return sec <= 0 ? 0 : uint32_t(sec);
}

void QueueThread::run() {
  for (;;) {
    {
      // Not while paused, nor while a hand-over waits for JS (its burst's packets are answered
      // there first: no burst of this queue overtakes it).
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return quit_ || (running_ && !pending_); });
      if (quit_) return;
    }
    pollfd p[2] = {{sock_.fd(), POLLIN, 0}, {wake_, POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_, &v, sizeof v);
    }
    if (p[0].revents & POLLERR) {
      // A pending socket error (ENOBUFS: the kernel could not queue to us): taken, reading goes on.
      std::lock_guard<std::mutex> g(sockMu_);
      sock_.takeError();
    }
    if (p[0].revents & POLLIN) burst();
  }
}

void QueueThread::burst() {
  std::lock_guard<std::mutex> b(burstMu_);
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!running_ || pending_) return;
  }
  uint32_t size = 0;
  uint8_t* mem = wasmvs::CoreData(core_, &size);
  uint8_t* packets = mem + areaBase_ + WASMVS_REGION_PACKETS;
  uint8_t* list = mem + areaBase_ + WASMVS_REGION_LIST;
  uint32_t max = std::min<uint32_t>(opt_.burst, WASMVS_REGION_LIST_SIZE / WASMVS_GW_VER_SIZE);
  int n;
  {
    std::lock_guard<std::mutex> g(sockMu_);
    n = sock_.readBurst(packets, WASMVS_REGION_PACKETS_SIZE, opt_.stride, max);
  }
  if (n <= 0) return;
  int32_t stale = 0, status = -1;
  uint32_t now = nowSeconds();
  inArea([&] {
    if (stale_.load(std::memory_order_acquire)) stale = call(fnStale_, {n, int32_t(opt_.stride)}, 0);
    // A trap leaves status -1: the burst goes to JS, which answers it with the fail verdict.
    if (stale <= 0) status = call(fnBurst_, {n, int32_t(opt_.stride), int32_t(now)}, -1);
  });
  if (stale > 0) {
    // SYNs that met live entries: the pending destroy events first (as gateway.ts eventsFirst does),
    // read and applied here when JS lets the thread; otherwise, or when the core asks the kernel for
    // something (ctApply's actions), JS does it and decides the burst.
    ctRecs_.clear();
    ctActs_.clear();
    if (!ctOn_.load(std::memory_order_acquire) || ct_.ct == nullptr || !eventsFirst(now)) return handOver(uint32_t(n), false, 0);
    {
      std::lock_guard<std::mutex> s(statsMu_);
      stats_.staleSyns += uint32_t(stale);
    }
    status = decide(uint32_t(n), now);
  }
  if (status != n || !ready(list, uint32_t(n))) return handOver(uint32_t(n), true, status);
  int sent;
  {
    std::lock_guard<std::mutex> g(sockMu_);
    sent = sock_.sendVerdicts(list, uint32_t(n), packets, WASMVS_REGION_PACKETS_SIZE, batchOk_.load(std::memory_order_acquire));
  }
  std::lock_guard<std::mutex> s(statsMu_);
  stats_.bursts++;
  stats_.packets += uint32_t(n);
  if (sent < 0) {
    stats_.sendErrors++;
    stats_.lastError = -sent;
  }
}

template <class F>
bool QueueThread::inArea(F f) {
  std::lock_guard<std::mutex> g(wasmvs::CoreMutex(core_));
  core_value_t a[1], r;
  a[0].i = opt_.area;
  if (wasmvs::CoreCall(core_, fnIoUse_, a, &r) != 0 || r.i < 0) return false;
  int prev = r.i;
  f();
  a[0].i = prev;
  wasmvs::CoreCall(core_, fnIoUse_, a, &r);
  return true;
}

int32_t QueueThread::call(int fn, std::initializer_list<int32_t> args, int32_t fail) {
  core_value_t a[4], r;
  size_t i = 0;
  for (int32_t v : args) a[i++].i = v;
  return wasmvs::CoreCall(core_, fn, a, &r) == 0 ? r.i : fail;
}

int32_t QueueThread::decide(uint32_t n, uint32_t now) {
  int32_t status = -1;
  inArea([&] { status = call(fnBurst_, {int32_t(n), int32_t(opt_.stride), int32_t(now)}, -1); });
  return status;
}

// Up to 16 regions' worth of the feed's pending destroy events, each applied by the core (ctApply)
// in this thread's area. False when the burst must go to JS: a read failed, the core refused the
// records, or it asks for actions on the kernel's entries (kept in ctRecs_/ctActs_ for JS).
bool QueueThread::eventsFirst(uint32_t now) {
  uint8_t* mem = wasmvs::CoreData(core_, nullptr);
  uint8_t* region = mem + areaBase_ + WASMVS_REGION_CT;
  const size_t max = std::min<size_t>(WASMVS_CT_MAX, WASMVS_REGION_CT_SIZE / WASMVS_CT_REC_SIZE);
  for (int i = 0; i < 16; i++) {
    int got = ConntrackEventsInto(ct_.ct, ct_.mark, ct_.mask, max, true, region);
    if (got < 0) return false;
    if (got == 0) return true;
    int32_t acts = -1;
    double fed = 0;
    inArea([&] {
      acts = call(fnCtApply_, {got, int32_t(now), int32_t(ct_.settled), int32_t(ct_.young)}, -1);
      // The call may have grown the memory; its address stays.
      mem = wasmvs::CoreData(core_, nullptr);
      memcpy(&fed, mem + areaBase_ + WASMVS_REGION_SPEC + WASMVS_CT_SUM_FED, sizeof fed);
      if (acts > 0) {
        const uint8_t* list = mem + areaBase_ + WASMVS_REGION_LIST;
        ctActs_.assign(list, list + size_t(acts) * WASMVS_CT_ACT_SIZE);
        ctRecs_.assign(region, region + size_t(got) * WASMVS_CT_REC_SIZE);
      }
    });
    {
      std::lock_guard<std::mutex> s(statsMu_);
      stats_.ctEvents += uint32_t(got);
      if (acts >= 0) stats_.ctFed += fed;
    }
    if (acts != 0) return false;
    if (size_t(got) < max) return true;
  }
  return true;
}

bool QueueThread::ready(const uint8_t* list, uint32_t n) {
  std::lock_guard<std::mutex> g(readyMu_);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* v = list + size_t(i) * WASMVS_GW_VER_SIZE;
    int64_t slot = verdictSlot(get32(v + WASMVS_GW_VER_FLAGS), get32(v + WASMVS_GW_VER_MARK));
    if (slot < 0) continue;
    // Before JS's first setReady no real server is ready.
    if (ready_.empty() || !((ready_[size_t(slot) >> 6] >> (slot & 63)) & 1)) return false;
  }
  return true;
}

void QueueThread::handOver(uint32_t n, bool decided, int32_t status) {
  uint8_t* mem = wasmvs::CoreData(core_, nullptr);
  const uint8_t* packets = mem + areaBase_ + WASMVS_REGION_PACKETS;
  const uint8_t* list = mem + areaBase_ + WASMVS_REGION_LIST;
  // The records' extent, and the payloads the verdicts send (the core's rewrites) if they lie past it.
  size_t used = 0;
  if (opt_.stride == STRIDE_PACKED) {
    for (uint32_t i = 0; i < n && used + REC_HEADER <= WASMVS_REGION_PACKETS_SIZE; i++) used += packedSpan(get32(packets + used + REC_LEN));
  } else {
    used = size_t(n) * opt_.stride;
  }
  if (decided) {
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t* v = list + size_t(i) * WASMVS_GW_VER_SIZE;
      if (get32(v + WASMVS_GW_VER_FLAGS) & WASMVS_GW_VF_PAYLOAD)
        used = std::max<size_t>(used, size_t(get32(v + WASMVS_GW_VER_OFF)) + get32(v + WASMVS_GW_VER_LEN));
    }
  }
  used = std::min<size_t>(used, WASMVS_REGION_PACKETS_SIZE);
  // JS owes this queue answers from now until it says otherwise (allowBatch after answering it).
  batchOk_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> g(mu_);
    handed_.packets.assign(packets, packets + used);
    if (decided) handed_.list.assign(list, list + size_t(n) * WASMVS_GW_VER_SIZE);
    else handed_.list.clear();
    handed_.ctRecs.swap(ctRecs_);
    handed_.ctActs.swap(ctActs_);
    ctRecs_.clear();
    ctActs_.clear();
    handed_.n = n;
    handed_.decided = decided;
    handed_.status = status;
    pending_ = true;
  }
  {
    std::lock_guard<std::mutex> s(statsMu_);
    if (decided) stats_.handedDecided++;
    else stats_.handedRaw++;
  }
  notify_(notifyCtx_);
}

}  // namespace nfq
