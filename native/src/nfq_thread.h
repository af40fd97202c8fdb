// A queue's own thread that decides its packets on the native core
// (core_native.h): it reads each burst into an I/O area of its own, has the
// core decide it (gwStaleSyns, gwBurst) under the core's lock and sends the
// verdicts, so the common burst never wakes Node's thread. A burst the
// thread cannot finish alone goes to JS whole (a hand-over): one whose SYNs
// meet stale entries (JS reads the conntrack destroy events first), one the
// core refused, and one with a verdict towards a real server whose rules are
// not in yet (JS holds it: held.ts). Policy stays in TypeScript
// (hosts/gateway/gateway.ts); this file moves bytes and calls the core.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <thread>
#include <vector>

#include "nfq_socket.h"

namespace wasmvs {
struct CoreInstance;
}

namespace nfq {

struct ThreadOptions {
  int area = 1;          // the core's I/O area this thread uses (ioUse), never 0 (JS's)
  uint32_t stride = 0;   // record stride (STRIDE_PACKED) as gwBurst takes it
  uint32_t burst = 64;   // packets per read
  double clockSeconds = 0;  // the director's clock at clockNs (CLOCK_MONOTONIC)
  uint64_t clockNs = 0;
};

/** The fast path's conntrack feed, whose destroy events the thread may read itself (QueueThread::useConntrack). */
struct CtOptions {
  void* ct = nullptr;        // ct_socket.cc's Conntrack (ConntrackOf)
  uint32_t mark = 0, mask = 0;  // the feed's marks (its destroy events only)
  uint32_t settled = 0, young = 0;  // ctApply's flag bits (ctfeed.ts CT_SETTLED, CT_YOUNG)
};

struct ThreadStats {
  uint64_t bursts = 0;       // bursts decided and answered on the thread
  uint64_t packets = 0;      // their packets
  uint64_t handedRaw = 0;    // bursts handed to JS before deciding (stale SYNs)
  uint64_t handedDecided = 0;  // bursts handed to JS after deciding (not ready, refused)
  uint64_t sendErrors = 0;   // verdict sends that failed (the last errno in lastError)
  int lastError = 0;
  uint64_t ctEvents = 0;     // destroy events the thread read and the core applied (ctApply)
  double ctFed = 0;          // packets those records fed to the statistics (CT_SUM_FED)
  uint64_t staleSyns = 0;    // SYNs that met live entries, decided here after those events (gwStaleSyns)
};

/** A burst handed to JS: its records and, when decided, the core's verdict list and status. */
struct Handed {
  std::vector<uint8_t> packets;  // the records as read (and as gwBurst left them, when decided)
  std::vector<uint8_t> list;     // n verdict records (decided only)
  uint32_t n = 0;
  bool decided = false;
  int32_t status = 0;            // gwBurst's return (decided only)
  // Conntrack records the thread had the core apply whose kernel side is JS's (ctApply's actions:
  // remove an entry, settle or promote its mark), and those actions (CT_ACT_SIZE each); usually empty.
  std::vector<uint8_t> ctRecs;
  std::vector<uint8_t> ctActs;
};

class QueueThread {
 public:
  // `notify` is called from the thread when a hand-over waits (uv_async_send).
  QueueThread(Socket& sock, std::mutex& sockMu, wasmvs::CoreInstance* core, const ThreadOptions& o,
              void (*notify)(void*), void* notifyCtx);
  ~QueueThread();
  // 0, or -errno / -1 when the core lacks an export or the area cannot be made.
  int init();
  // Decides from now on; starts the thread on first call.
  void resume();
  // Stops deciding; returns once no burst is under way on the thread (a hand-over may still wait).
  void pause();
  // Ends the thread (joins it).
  void quit();
  // Moves a waiting hand-over out (false when none).
  bool take(Handed& out);
  // JS answered the burst it took (its verdicts sent or held): the thread goes on. Until then it
  // reads nothing, so no packet of this queue overtakes one of that burst.
  void done();
  // JS's part in verdicts: while it owes answers for this queue (a hand-over not answered, held
  // packets), a batch verdict from the thread would take them: the thread sends one per packet.
  void allowBatch(bool ok) { batchOk_.store(ok, std::memory_order_release); }
  void staleCheck(bool on) { stale_.store(on, std::memory_order_release); }
  // The feed whose destroy events this thread reads itself before a burst with stale SYNs (instead
  // of handing it over); -ENOSYS when the core lacks ctApply.
  int useConntrack(const CtOptions& c);
  // Whether it may now (JS: not while its feed keeps notes of queued packets to subtract).
  void ctOn(bool on) { ctOn_.store(on, std::memory_order_release); }
  // The real servers whose rules are in (slots, dest id & GW_DR_SLOT_MASK).
  void setReady(const uint32_t* slots, size_t n);
  ThreadStats stats();

 private:
  void run();
  void burst();
  bool ready(const uint8_t* list, uint32_t n);
  bool eventsFirst(uint32_t now);
  // Runs `f` under the core's lock with this thread's I/O area selected (the one before restored
  // after); false when the area could not be selected (f not run).
  template <class F>
  bool inArea(F f);
  // Calls export `fn` with `args`; its i32 result, or `fail` on a trap.
  int32_t call(int fn, std::initializer_list<int32_t> args, int32_t fail);
  int32_t decide(uint32_t n, uint32_t now);
  void handOver(uint32_t n, bool decided, int32_t status);
  uint32_t nowSeconds() const;

  Socket& sock_;
  std::mutex& sockMu_;
  wasmvs::CoreInstance* core_;
  ThreadOptions opt_;
  void (*notify_)(void*);
  void* notifyCtx_;
  int fnIoUse_ = -1, fnIoBase_ = -1, fnStale_ = -1, fnBurst_ = -1, fnCtApply_ = -1;
  CtOptions ct_;
  std::atomic<bool> ctOn_{false};
  std::vector<uint8_t> ctRecs_, ctActs_;  // the actions of the last eventsFirst, for the hand-over
  uint32_t areaBase_ = 0;
  int wake_ = -1;  // eventfd: pause, quit and a taken hand-over wake the poll

  std::thread th_;
  std::mutex mu_;                // running_, quit_, handed_, pending_
  std::condition_variable cv_;
  bool running_ = false;
  bool quit_ = false;
  bool pending_ = false;  // a hand-over waits, or JS took it and has not answered it yet
  bool taken_ = false;
  Handed handed_;
  std::mutex burstMu_;           // held for a whole burst (pause waits for it)
  std::atomic<bool> batchOk_{true};
  std::atomic<bool> stale_{false};
  std::mutex readyMu_;
  std::vector<uint64_t> ready_;  // one bit per slot (setReady)
  std::vector<uint64_t> spare_;  // the bitmap of the round before, reused by the next setReady
  std::mutex statsMu_;
  ThreadStats stats_;
};

}  // namespace nfq
