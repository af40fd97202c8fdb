// Node-API surface of the connection engine (`wasmvsd proxy --engine native`):
// N pumps (splice_pump.h's Pump, one epoll each), each with its own
// SO_REUSEPORT listener per service, accept, connect and move the bytes of
// TCP connections; JS (hosts/proxy/engine.ts) decides every connection in
// the main thread through the one core. With `inline` (the default from JS)
// the first pump has no thread: Node's loop polls its epoll set and runs it
// on the main thread, so its connections are accepted, decided and connected
// in one callback, no thread hand-over either way; the other N-1 pumps are
// threads. Events come back in batches (the threads' through one
// thread-safe function): a Float64Array of RECORD numbers per event
// [id, kind, side, errno, inBytes, inChunks, outBytes, outChunks] and the
// client addresses of its ACCEPT events, in order. Every pump holds the events
// of decided connections (established, FINs, close, counts) until a client to
// decide comes (they go ahead of it), its report period or flush(): a thread
// pump wakes the main thread once per batch of clients, not per event. The records are a view of
// one buffer every batch reuses (no allocation per batch, nothing for V8's
// ArrayBuffer sweeper): valid during the callback only. Decisions made while
// a batch is delivered wake each pump once, after the callback returns.
#include <arpa/inet.h>
#include <napi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <time.h>
#include <memory>
#include <unordered_map>
#include <vector>

#include "splice_pump.h"
#include "abi.gen.h"
#ifdef WASMVS_NATIVE_CORE
#include "core_native.h"
#endif

namespace {

constexpr int RECORD = 8;
constexpr int MAX_THREADS = 256;  // --workers allows 1..256
// Deferred events of decided connections the inline pump holds at most before delivering them anyway.
constexpr size_t PENDING_MAX = 256;

void throwErrno(Napi::Env env, const std::string& what, int e) {
  const char* name = strerrorname_np(e);
  Napi::Error err = Napi::Error::New(env, what + ": " + strerror(e));
  err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  err.Set("errno", Napi::Number::New(env, e));
  err.ThrowAsJavaScriptException();
}

/** An IPv4 or IPv6 literal and a port as a sockaddr; false when it is neither. */
bool sockaddrOf(const std::string& text, int port, sockaddr_storage& ss, socklen_t& len) {
  memset(&ss, 0, sizeof ss);
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, text.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, text.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

uint64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

/**
 * Deciding clients on the thread pumps themselves (useCore): the daemon's
 * core is the addon's native one, so a thread asks it as JS would
 * (decideTcp's schedule: the flow record in, one schedule(1, now), the
 * decision record out), in an I/O area of its own (ioUse), under the core's
 * lock. JS keeps the policy: it names the listeners whose clients may be
 * decided here (no PROXY protocol header to write) and a budget of clients
 * below its bounds (tcp_conns, tcp_pending; 0 during a spell of refusals);
 * a client past the budget, or on another listener, goes to JS as before.
 */
struct Decider {
  struct Vip {
    int af = 0;
    uint32_t w[4] = {0, 0, 0, 0};
    uint16_t port = 0;
    bool here = false;
  };
#ifdef WASMVS_NATIVE_CORE
  wasmvs::CoreInstance* core = nullptr;
#endif
  int fnIoUse = -1, fnIoBase = -1, fnSchedule = -1, fnConnEvent = -1;
  /** The director's clock: its seconds at anchorNs (CLOCK_MONOTONIC, as Node's performance.now). */
  double anchorSec = 0;
  uint64_t anchorNs = 0;
  std::atomic<int> timeoutMs{5000};
  /** Room under the bounds, as JS counted it last (set after each delivery and each admission of its own). */
  std::atomic<int64_t> budget{0};
  /** Whether the threads decide at all now (JS: not during a spell of refusals, not with PROXY protocol headers). */
  std::atomic<bool> threads{false};
  /** DECIDED events not yet through a delivery (Deliver subtracts them once JS has counted them). */
  std::atomic<int64_t> inflight{0};
  std::mutex mu;  // guards vips
  std::unordered_map<uint32_t, Vip> vips;

  /** The director's clock now, in whole seconds (its `now` for the core's calls). */
  uint32_t now() const {
    double sec = anchorSec + double(int64_t(monoNs() - anchorNs)) / 1e9;
    return sec <= 0 ? 0 : uint32_t(sec);
  }

  /** One slot: inflight < budget, counted in inflight, in one atomic step. */
  bool claim() {
    int64_t n = inflight.load(std::memory_order_acquire);
    do {
      if (n >= budget.load(std::memory_order_acquire)) return false;
    } while (!inflight.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
    return true;
  }
};

/** Words of an address as the core's records hold them (docs/abi.md "Addresses"). */
void wordsOf(const sockaddr_storage& ss, int& af, uint32_t w[4], uint16_t& port) {
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    af = 4;
    w[0] = ntohl(a->sin_addr.s_addr);
    w[1] = w[2] = w[3] = 0;
    port = ntohs(a->sin_port);
  } else {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    af = 6;
    for (int i = 0; i < 4; i++) {
      uint32_t v;
      memcpy(&v, a->sin6_addr.s6_addr + 4 * i, 4);
      w[i] = ntohl(v);
    }
    port = ntohs(a->sin6_port);
  }
}

struct PumpDecider {
  Decider* d;
  int area;
};

bool decideHere(void* ctx, uint32_t listener, const sockaddr_storage& client, splicepump::Decision& out) {
#ifdef WASMVS_NATIVE_CORE
  auto* pd = static_cast<PumpDecider*>(ctx);
  Decider* d = pd->d;
  if (d->core == nullptr) return false;
  Decider::Vip v;
  {
    std::lock_guard<std::mutex> g(d->mu);
    auto it = d->vips.find(listener);
    if (it == d->vips.end() || !it->second.here) return false;
    v = it->second;
  }
  int af;
  uint32_t c[4];
  uint16_t cport;
  wordsOf(client, af, c, cport);
  if (af != v.af) return false;
  // A slot of the budget, taken atomically: JS's own admissions take theirs the same way (claim).
  if (!d->threads.load(std::memory_order_acquire) || !d->claim()) return false;
  uint32_t now = d->now();
  int status;
  uint32_t dec[8];
  {
    std::lock_guard<std::mutex> g(wasmvs::CoreMutex(d->core));
    core_value_t a[2], r;
    a[0].i = pd->area;
    if (wasmvs::CoreCall(d->core, d->fnIoUse, a, &r) != 0 || r.i < 0) {
      d->inflight.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
    int prev = r.i;
    bool ok = wasmvs::CoreCall(d->core, d->fnIoBase, a, &r) == 0;
    uint32_t base = uint32_t(r.i);
    if (ok) {
      uint8_t* m = wasmvs::CoreData(d->core, nullptr);
      uint32_t f[12] = {uint32_t(af) | (6u << 8) | (0x02u << 16), 0, c[0], c[1], c[2], c[3], v.w[0], v.w[1], v.w[2], v.w[3],
                        uint32_t(cport) | (uint32_t(v.port) << 16), 0};
      memcpy(m + base + WASMVS_REGION_FLOWS, f, sizeof f);
      a[0].i = 1;
      a[1].i = int32_t(now);
      ok = wasmvs::CoreCall(d->core, d->fnSchedule, a, &r) == 0 && r.i == 1;
      // The call may have grown the memory; its address stays.
      m = wasmvs::CoreData(d->core, nullptr);
      memcpy(dec, m + base + WASMVS_REGION_DECISIONS, sizeof dec);
    }
    a[0].i = prev;
    wasmvs::CoreCall(d->core, d->fnIoUse, a, &r);
    if (!ok) {
      d->inflight.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
  }
  status = int32_t(dec[0]);
  out.status = status < 0 ? status : 0;
  out.conn = dec[1];
  out.dest = dec[2];
  out.word = dec[3];
  out.timeoutMs = d->timeoutMs.load(std::memory_order_relaxed);
  if (status >= 0) {
    int daf = int((dec[3] >> 8) & 0xff);
    uint16_t dport = uint16_t(dec[3] >> 16);
    memset(&out.sa, 0, sizeof out.sa);
    if (daf == 4) {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&out.sa);
      s4->sin_family = AF_INET;
      s4->sin_addr.s_addr = htonl(dec[4]);
      s4->sin_port = htons(dport);
      out.salen = sizeof(sockaddr_in);
    } else {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&out.sa);
      s6->sin6_family = AF_INET6;
      for (int i = 0; i < 4; i++) {
        uint32_t be = htonl(dec[4 + i]);
        memcpy(s6->sin6_addr.s6_addr + 4 * i, &be, 4);
      }
      s6->sin6_port = htons(dport);
      out.salen = sizeof(sockaddr_in6);
    }
  }
  return true;
#else
  (void)ctx;
  (void)listener;
  (void)client;
  (void)out;
  return false;
#endif
}

/**
 * A connection decided on a pump (decideHere) changed state: its table entry hears it now, under
 * the core's lock (connEvent, as JS's director.connEvent would a delivery later), so every pump's next
 * decision counts it. JS skips what the event's APPLIED bit says was given.
 */
bool connEventHere(void* ctx, uint32_t conn, splicepump::Kind k) {
#ifdef WASMVS_NATIVE_CORE
  // The pump's kinds as JS's NativeEngine gives them to the table (hosts/proxy/engine.ts deliver).
  uint32_t ev;
  switch (k) {
    case splicepump::ESTABLISHED: ev = WASMVS_CONN_EV_ESTABLISHED; break;
    case splicepump::FIN_IN: ev = WASMVS_CONN_EV_CLIENT_FIN; break;
    case splicepump::FIN_OUT: ev = WASMVS_CONN_EV_SERVER_FIN; break;
    case splicepump::RESET:
    case splicepump::CONNFAIL: ev = WASMVS_CONN_EV_RESET; break;
    case splicepump::CLOSED: ev = WASMVS_CONN_EV_CLOSE; break;
    default: return false;
  }
  Decider* d = static_cast<PumpDecider*>(ctx)->d;
  if (d->core == nullptr || d->fnConnEvent < 0) return false;
  core_value_t a[3], r;
  a[0].i = int32_t(conn);
  a[1].i = int32_t(ev);
  a[2].i = int32_t(d->now());
  std::lock_guard<std::mutex> g(wasmvs::CoreMutex(d->core));
  wasmvs::CoreCall(d->core, d->fnConnEvent, a, &r);  // E_NOCONN: the entry expired or was flushed meanwhile
  return true;
#else
  (void)ctx;
  (void)conn;
  (void)k;
  return false;
#endif
}

class ConnEngine : public Napi::ObjectWrap<ConnEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ConnEngine",
                       {InstanceMethod<&ConnEngine::Listen>("listen"), InstanceMethod<&ConnEngine::Unlisten>("unlisten"),
                        InstanceMethod<&ConnEngine::Connect>("connect"), InstanceMethod<&ConnEngine::Abort>("abort"),
                        InstanceMethod<&ConnEngine::Stats>("stats"), InstanceMethod<&ConnEngine::Flush>("flush"),
                        InstanceMethod<&ConnEngine::Close>("close"), InstanceMethod<&ConnEngine::UseCore>("useCore"),
                        InstanceMethod<&ConnEngine::DecideHere>("decideHere"), InstanceMethod<&ConnEngine::SetBudget>("setBudget"),
                        InstanceMethod<&ConnEngine::Claim>("claim"), InstanceMethod<&ConnEngine::Release>("release"),
                        InstanceMethod<&ConnEngine::Inflight>("inflight")});
  }

  explicit ConnEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConnEngine>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "ConnEngine(onEvents, options?): onEvents function required").ThrowAsJavaScriptException();
      return;
    }
    splicepump::Options opt;
    int threads = 1;
    bool inlineFirst = false;
    opt.spliceAfter = 64 * 1024;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Get("threads").IsNumber()) threads = o.Get("threads").As<Napi::Number>().Int32Value();
      if (o.Get("inline").IsBoolean()) inlineFirst = o.Get("inline").As<Napi::Boolean>().Value();
      if (o.Get("pipeSize").IsNumber()) opt.pipeSize = o.Get("pipeSize").As<Napi::Number>().Int32Value();
      if (o.Get("reportMs").IsNumber()) opt.reportMs = o.Get("reportMs").As<Napi::Number>().Int32Value();
      if (o.Get("maxUndecided").IsNumber()) opt.maxUndecided = size_t(std::max(1.0, o.Get("maxUndecided").As<Napi::Number>().DoubleValue()));
      if (o.Get("spliceAfter").IsNumber()) {
        double v = o.Get("spliceAfter").As<Napi::Number>().DoubleValue();
        opt.spliceAfter = v >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : v <= 0 ? 0 : uint64_t(v);
      }
    }
    if (threads < 1 || threads > MAX_THREADS || opt.pipeSize < 4096 || opt.reportMs < 1) {
      Napi::RangeError::New(env, "ConnEngine: threads 1-256, pipeSize >= 4096 and reportMs >= 1 required").ThrowAsJavaScriptException();
      return;
    }
    noAddrs_ = Napi::Persistent(Napi::Array::New(env, 0));
    noAddrs_.Value().Freeze();
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "wasmvs-engine", 0, 1);
    released_ = false;
    // The engine does not keep the process alive: the daemon does.
    tsfn_.Unref(env);
    // Flush() delivers on this thread with or without an inline pump (threads hold their decided connections' events too).
    onEvents_ = Napi::Persistent(info[0].As<Napi::Function>());
    recv_ = Napi::Persistent(env.Global());
    asyncCtx_ = std::make_unique<Napi::AsyncContext>(env, "wasmvs-engine");
    opt.holdMax = PENDING_MAX;
    for (int t = 0; t < threads; t++) {
      opt.idBase = uint32_t(t + 1);
      opt.idStep = uint32_t(threads);
      bool here = inlineFirst && t == 0;
      opt.hold = !here;
      // Every pump, the main thread's too, may decide its clients itself once JS hands it the core (useCore),
      // each in an I/O area of its own (JS's is 0).
      pumpDeciders_[t] = PumpDecider{&decider_, t + 1};
      opt.decide = &decideHere;
      opt.connEvent = &connEventHere;
      opt.decideCtx = &pumpDeciders_[t];
      auto p = std::make_unique<splicepump::Pump>(opt, here ? &ConnEngine::NotifyInline : &ConnEngine::Notify, this);
      if (!(here ? p->startInline() : p->start())) {
        int e = errno;
        Shutdown();
        throwErrno(env, "ConnEngine: epoll", e);
        return;
      }
      pumps_.push_back(std::move(p));
      if (here && !StartInline(env, opt.reportMs)) return;
    }
  }

  ~ConnEngine() override { Shutdown(); }

 private:
  static void Notify(void* ctx) {
    auto* self = static_cast<ConnEngine*>(ctx);
    self->tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function cb) { self->Deliver(env, cb); });
  }

  static void NotifyInline(void* ctx) { static_cast<ConnEngine*>(ctx)->inlineDue_ = true; }

  /** The first pump on this (the main) thread: a poll of its epoll set and a timer for its counts and deadlines. */
  bool StartInline(Napi::Env env, int reportMs) {
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    timer_ = new uv_timer_t;
    int r = uv_poll_init(loop, poll_, pumps_[0]->fd());
    if (r == 0) {
      poll_->data = this;
      uv_timer_init(loop, timer_);
      timer_->data = this;
      r = uv_poll_start(poll_, UV_READABLE, [](uv_poll_t* h, int, int) {
        if (h->data != nullptr) static_cast<ConnEngine*>(h->data)->RunInline(false);
      });
    }
    if (r == 0) r = uv_timer_start(timer_, [](uv_timer_t* h) {
      if (h->data != nullptr) static_cast<ConnEngine*>(h->data)->RunInline(true);
    }, uint64_t(reportMs), uint64_t(reportMs));
    if (r != 0) {
      Shutdown();
      throwErrno(env, "ConnEngine: uv_poll", -r);
      return false;
    }
    // Neither keeps the process alive: the daemon does.
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
    return true;
  }

  /**
   * The inline pump's round: what its sockets have (accepts, connects, bytes),
   * then a few rounds while each yields clients to decide: the events go to JS
   * at once and the next round connects the decisions. Events of connections
   * already decided (established, FINs, close, counts) wait for the next
   * delivery that carries a client to decide (ahead of it in the batch, so
   * every decision still sees every state change before it), for the timer
   * (`force`, every reportMs), for a listing (flush) or for PENDING_MAX of
   * them: one call into JS per connection instead of about four. Thread
   * pumps hold theirs the same way (Options::hold) and every delivery takes
   * every pump's. With the core handed over (useCore) this pump decides its
   * clients itself, as the threads do, and gives their state changes to the
   * core as they happen: JS then hears of them once DECIDED_WAKE (16) were
   * decided here, for the bookkeeping only (no call into JS per connection).
   */
  void RunInline(bool force) {
    if (pumps_.empty() || poll_ == nullptr || inRound_) return;
    inRound_ = true;
    Napi::Env env = onEvents_.Env();
    Napi::HandleScope scope(env);
    for (int round = 0; round < 4 && !pumps_.empty(); round++) {
      inlineDue_ = false;
      pumps_[0]->turn();
      bool due = false;
      size_t n = pumps_[0]->pending(&due);
      if (n == 0 || (!due && !(force && round == 0) && n < PENDING_MAX)) break;
      Deliver(env, Napi::Function(), true);
      if (env.IsExceptionPending()) {
        // As a throw from any other callback: the process's uncaught-exception handling.
        Napi::Error e = env.GetAndClearPendingException();
        napi_fatal_exception(env, e.Value());
        break;
      }
    }
    inRound_ = false;
  }

  void Deliver(Napi::Env env, Napi::Function cb, bool here = false) {
    if (pumps_.empty()) return;
    batch_.clear();
    addrs_.clear();
    for (auto& p : pumps_) {
      part_.clear();
      partAddrs_.clear();
      p->take(part_, &partAddrs_);
      batch_.insert(batch_.end(), part_.begin(), part_.end());
      for (std::string& a : partAddrs_) addrs_.push_back(std::move(a));
    }
    if (batch_.empty()) return;
    size_t n = batch_.size() * RECORD;
    if (n > recordsCap_) {
      size_t cap = std::max(n, std::max(recordsCap_ * 2, size_t(64 * RECORD)));
      records_ = Napi::Persistent(Napi::ArrayBuffer::New(env, cap * sizeof(double)));
      recordsCap_ = cap;
    }
    Napi::ArrayBuffer buf = records_.Value();
    Napi::Float64Array a = Napi::Float64Array::New(env, n, buf, 0);
    double* r = static_cast<double*>(buf.Data());
    for (const splicepump::Event& e : batch_) {
      r[0] = e.id;
      r[1] = e.kind;
      r[2] = e.side;
      r[3] = e.err;
      r[4] = double(e.inBytes);
      r[5] = double(e.inChunks);
      r[6] = double(e.outBytes);
      r[7] = double(e.outChunks);
      r += RECORD;
    }
    Napi::Array addrs = noAddrs_.Value();  // frozen, empty: batches without ACCEPT events
    if (!addrs_.empty()) {
      addrs = Napi::Array::New(env, addrs_.size());
      for (size_t i = 0; i < addrs_.size(); i++) addrs.Set(uint32_t(i), Napi::String::New(env, addrs_[i]));
    }
    int64_t decidedHere = 0;
    for (const splicepump::Event& e : batch_) decidedHere += e.kind == splicepump::DECIDED;
    delivering_ = true;
    if (here) onEvents_.MakeCallback(recv_.Value(), {a, addrs}, *asyncCtx_);
    else cb.Call({a, addrs});
    delivering_ = false;
    // JS has counted them (and set the budget from its counts in the callback).
    if (decidedHere > 0) decider_.inflight.fetch_sub(decidedHere, std::memory_order_acq_rel);
    // The decisions taken in the callback: one wake-up per thread; the inline pump's now, here.
    for (size_t i = 0; i < pumps_.size(); i++) {
      if (i == 0 && here && poll_ != nullptr) pumps_[0]->kickInline();
      else pumps_[i]->kick();
    }
  }

  splicepump::Pump* pumpOf(uint32_t id) { return pumps_[(id - 1) % pumps_.size()].get(); }

  /** listen(address, port, backlog) → listener id: one SO_REUSEPORT socket per thread. Throws with the errno's code. */
  Napi::Value Listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (pumps_.empty()) { throwErrno(env, "ConnEngine.listen", ESHUTDOWN); return env.Undefined(); }
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "listen(address, port, backlog?)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string text = info[0].As<Napi::String>().Utf8Value();
    int port = info[1].As<Napi::Number>().Int32Value();
    int backlog = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 4096;
    sockaddr_storage ss;
    socklen_t len;
    if (port < 0 || port > 65535 || !sockaddrOf(text, port, ss, len)) {
      throwErrno(env, "ConnEngine.listen " + text, EINVAL);
      return env.Undefined();
    }
    std::vector<int> fds;
    for (size_t t = 0; t < pumps_.size(); t++) {
      int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int one = 1, e = 0;
      if (fd < 0) e = errno;
      else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
               setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
               setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||  // inherited by accepted sockets
               (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
               bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 || ::listen(fd, backlog) < 0)
        e = errno;
      if (e != 0) {
        if (fd >= 0) close(fd);
        for (int f : fds) close(f);
        throwErrno(env, "listen " + text + ":" + std::to_string(port), e);
        return env.Undefined();
      }
      fds.push_back(fd);
    }
    uint32_t id = ++lastListener_;
    listenFds_[id] = fds;
    {
      Decider::Vip v;
      wordsOf(ss, v.af, v.w, v.port);
      std::lock_guard<std::mutex> g(decider_.mu);
      decider_.vips[id] = v;
    }
    for (size_t t = 0; t < pumps_.size(); t++) pumps_[t]->listen(id, fds[t]);
    return Napi::Number::New(env, id);
  }

  // The listener stops taking clients before this returns (a service's -D is answered once its VIP
  // refuses, as after ipvsadm -D): shutdown(2) of a listening socket closes it in the kernel (new SYNs
  // are refused, clients still in its backlog reset) while its fd stays open, so no fd number is
  // reused under a pump that has not yet taken the unlisten; the pump closes the fd when it does.
  Napi::Value Unlisten(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsNumber()) {
      uint32_t id = info[0].As<Napi::Number>().Uint32Value();
      auto it = listenFds_.find(id);
      if (it != listenFds_.end()) {
        if (!pumps_.empty()) for (int fd : it->second) shutdown(fd, SHUT_RD);
        listenFds_.erase(it);
      }
      {
        std::lock_guard<std::mutex> g(decider_.mu);
        decider_.vips.erase(id);
      }
      for (auto& p : pumps_) p->unlisten(id);
    }
    return info.Env().Undefined();
  }

  /** connect(id, address, port, pre: Buffer | null, timeoutMs): the decision for an accepted client. */
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (pumps_.empty()) { throwErrno(env, "ConnEngine.connect", ESHUTDOWN); return env.Undefined(); }
    if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[4].IsNumber()) {
      Napi::TypeError::New(env, "connect(id, address, port, pre, timeoutMs)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    std::string text = info[1].As<Napi::String>().Utf8Value();
    int port = info[2].As<Napi::Number>().Int32Value();
    sockaddr_storage ss;
    socklen_t len;
    if (id == 0 || port < 0 || port > 65535 || !sockaddrOf(text, port, ss, len)) {
      throwErrno(env, "ConnEngine.connect " + text, EINVAL);
      return env.Undefined();
    }
    std::string pre;
    if (info[3].IsBuffer()) {
      auto b = info[3].As<Napi::Buffer<char>>();
      pre.assign(b.Data(), b.Length());
    }
    splicepump::Pump* p = pumpOf(id);
    p->connect(id, ss, len, std::move(pre), std::max(1, info[4].As<Napi::Number>().Int32Value()));
    if (!delivering_) p->kick();
    return env.Undefined();
  }

  /** abort(id): reset a connection (accepted, connecting or open); its CLOSED follows. Also the rejection of a client. */
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    if (!pumps_.empty() && info.Length() > 0 && info[0].IsNumber()) {
      uint32_t id = info[0].As<Napi::Number>().Uint32Value();
      if (id != 0) pumpOf(id)->abort(id);
    }
    return info.Env().Undefined();
  }

  /** Delivers the events waiting now (every pump's held ones too), before a listing or a stop. */
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!pumps_.empty() && !delivering_ && !inRound_) {
      Napi::HandleScope scope(env);
      Deliver(env, Napi::Function(), true);
    }
    return env.Undefined();
  }

  /**
   * useCore(nativeCore, clockSeconds, clockNs, connectTimeoutMs): the thread pumps decide on this native
   * core from now on (listeners named by decideHere, within the budget). clockSeconds is the director's
   * clock at clockNs (process.hrtime.bigint() as a number: CLOCK_MONOTONIC). False when this addon has no
   * native core or `nativeCore` is not one.
   */
  Napi::Value UseCore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
#ifdef WASMVS_NATIVE_CORE
    if (info.Length() < 4 || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
      Napi::TypeError::New(env, "useCore(core, clockSeconds, clockNs, connectTimeoutMs)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    wasmvs::CoreInstance* c = wasmvs::CoreOf(info[0]);
    if (c == nullptr || decider_.core != nullptr) return Napi::Boolean::New(env, false);
    decider_.fnIoUse = wasmvs::CoreExport("ioUse");
    decider_.fnIoBase = wasmvs::CoreExport("getIoBase");
    decider_.fnSchedule = wasmvs::CoreExport("schedule");
    decider_.fnConnEvent = wasmvs::CoreExport("connEvent");
    if (decider_.fnIoUse < 0 || decider_.fnIoBase < 0 || decider_.fnSchedule < 0 || decider_.fnConnEvent < 0) return Napi::Boolean::New(env, false);
    decider_.anchorSec = info[1].As<Napi::Number>().DoubleValue();
    decider_.anchorNs = uint64_t(info[2].As<Napi::Number>().DoubleValue());
    decider_.timeoutMs.store(std::max(1, info[3].As<Napi::Number>().Int32Value()));
    coreRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    decider_.core = c;
    return Napi::Boolean::New(env, true);
#else
    return Napi::Boolean::New(env, false);
#endif
  }

  /** decideHere(listenerId, on): whether the threads may decide this listener's clients. */
  Napi::Value DecideHere(const Napi::CallbackInfo& info) {
    if (info.Length() > 1 && info[0].IsNumber()) {
      std::lock_guard<std::mutex> g(decider_.mu);
      auto it = decider_.vips.find(info[0].As<Napi::Number>().Uint32Value());
      if (it != decider_.vips.end()) it->second.here = info[1].ToBoolean().Value();
    }
    return info.Env().Undefined();
  }

  /**
   * setBudget(room, threads, connectTimeoutMs?): the room under the bounds by JS's counts (the threads'
   * and JS's own clients in flight are counted against it here), and whether the threads decide at all.
   */
  Napi::Value SetBudget(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsNumber()) decider_.budget.store(int64_t(info[0].As<Napi::Number>().DoubleValue()), std::memory_order_release);
    if (info.Length() > 1) decider_.threads.store(info[1].ToBoolean().Value(), std::memory_order_release);
    if (info.Length() > 2 && info[2].IsNumber()) decider_.timeoutMs.store(std::max(1, info[2].As<Napi::Number>().Int32Value()));
    return info.Env().Undefined();
  }

  /** claim(): one slot of the budget for a client JS decides itself (true), or none left (false). */
  Napi::Value Claim(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), decider_.claim()); }

  /** inflight(): slots taken and not yet counted by JS (the threads' clients in flight, JS's own being decided). */
  Napi::Value Inflight(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(decider_.inflight.load(std::memory_order_acquire)));
  }

  /** release(n): slots JS has counted now (after setBudget from its new counts). */
  Napi::Value Release(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsNumber()) decider_.inflight.fetch_sub(int64_t(info[0].As<Napi::Number>().DoubleValue()), std::memory_order_acq_rel);
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    splicepump::Stats sum;
    for (auto& p : pumps_) {
      splicepump::Stats s = p->stats();
      sum.conns += s.conns;
      sum.pipes += s.pipes;
      sum.pooled += s.pooled;
      sum.spliced += s.spliced;
      sum.copied += s.copied;
      sum.closed += s.closed;
      sum.accepted += s.accepted;
      sum.acceptErrors += s.acceptErrors;
      sum.connectFailed += s.connectFailed;
      sum.undecided += s.undecided;
      sum.listeners += s.listeners;
      sum.decidedHere += s.decidedHere;
      sum.refusedHere += s.refusedHere;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("threads", double(pumps_.size()));
    o.Set("conns", double(sum.conns));
    o.Set("pipes", double(sum.pipes));
    o.Set("pooled", double(sum.pooled));
    o.Set("spliced", double(sum.spliced));
    o.Set("copied", double(sum.copied));
    o.Set("closed", double(sum.closed));
    o.Set("accepted", double(sum.accepted));
    o.Set("acceptErrors", double(sum.acceptErrors));
    o.Set("connectFailed", double(sum.connectFailed));
    o.Set("undecided", double(sum.undecided));
    o.Set("listeners", double(sum.listeners));
    o.Set("decidedHere", double(sum.decidedHere));
    o.Set("refusedHere", double(sum.refusedHere));
    return o;
  }

  /** Stops the threads: listeners close, open connections are reset. */
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  void Shutdown() {
    // The inline pump's handles first: libuv must not poll a closed epoll set.
    if (poll_ != nullptr) {
      poll_->data = nullptr;
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (timer_ != nullptr) {
      timer_->data = nullptr;
      uv_timer_stop(timer_);
      uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer_ = nullptr;
    }
    for (auto& p : pumps_) p->stop();
    pumps_.clear();
    listenFds_.clear();
    if (!released_) {
      released_ = true;
      tsfn_.Release();
    }
  }

  Decider decider_;
  PumpDecider pumpDeciders_[MAX_THREADS];
  /** The native core the threads decide on (kept alive while the engine is). */
  Napi::ObjectReference coreRef_;
  std::vector<std::unique_ptr<splicepump::Pump>> pumps_;
  Napi::ThreadSafeFunction tsfn_;
  std::vector<splicepump::Event> batch_, part_;
  std::vector<std::string> addrs_, partAddrs_;
  /** The records' buffer (recordsCap_ numbers), reused by every batch; the addresses of a batch without ACCEPT events. */
  Napi::Reference<Napi::ArrayBuffer> records_;
  size_t recordsCap_ = 0;
  Napi::Reference<Napi::Array> noAddrs_;
  uint32_t lastListener_ = 0;
  // Each listener's fds (one per pump), until its unlisten; the pumps own and close them.
  std::unordered_map<uint32_t, std::vector<int>> listenFds_;
  bool delivering_ = false;
  // The inline pump (pumps_[0] with `inline`): its poll and timer on Node's loop, the callback it calls directly.
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  Napi::FunctionReference onEvents_;
  Napi::ObjectReference recv_;
  std::unique_ptr<Napi::AsyncContext> asyncCtx_;
  bool inlineDue_ = false, inRound_ = false;
  /** No thread-safe function to let go of (none yet, or let go of). */
  bool released_ = true;
};

}  // namespace

/** Called from the addon's Init (addon.cc). */
void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("ConnEngine", ConnEngine::Define(env));
}
