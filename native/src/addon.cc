// Node-API surface of the NFQUEUE socket. It only moves bytes: the fd is
// polled with libuv on the loop thread (no threads of its own), packets go
// into the caller's buffer, verdicts come from the caller's buffer. Policy
// lives in TypeScript (native). Errors become JS errors with the
// errno name as `code`; nothing here exits the process.
#include <napi.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <uv.h>

#include "nfq_socket.h"
#ifdef WASMVS_NATIVE_CORE
#include "core_native.h"
#include "nfq_thread.h"
#endif

// The splice pump of the proxy (splice.cc).
void InitSplice(Napi::Env env, Napi::Object exports);
void InitEngine(Napi::Env env, Napi::Object exports);
// ct_socket.cc: ctnetlink for the fast path.
Napi::Function DefineConntrack(Napi::Env env);
Napi::Value ParseCtForTest(const Napi::CallbackInfo& info);
void* ConntrackOf(Napi::Value v);

namespace {

Napi::Error errnoError(Napi::Env env, const char* what, int negErrno) {
  int e = -negErrno;
  const char* name = strerrorname_np(e);
  std::string msg = std::string(what) + ": " + strerror(e);
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  err.Set("errno", Napi::Number::New(env, negErrno));
  return err;
}

uint32_t optU32(const Napi::Object& o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

bool optBool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

class NfQueue : public Napi::ObjectWrap<NfQueue> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NfQueue",
                       {InstanceAccessor<&NfQueue::Fd>("fd"), InstanceMethod<&NfQueue::Start>("start"),
                        InstanceMethod<&NfQueue::Stop>("stop"), InstanceMethod<&NfQueue::Read>("read"),
                        InstanceMethod<&NfQueue::Verdicts>("verdicts"), InstanceMethod<&NfQueue::Stats>("stats"),
                        InstanceMethod<&NfQueue::SetGso>("setGso"),
                        InstanceMethod<&NfQueue::UseCore>("useCore"), InstanceMethod<&NfQueue::TakeHanded>("takeHanded"),
                        InstanceMethod<&NfQueue::AllowBatch>("allowBatch"), InstanceMethod<&NfQueue::HandedDone>("handedDone"), InstanceMethod<&NfQueue::StaleCheck>("staleCheck"),
                        InstanceMethod<&NfQueue::SetReady>("setReady"), InstanceMethod<&NfQueue::UseConntrack>("useConntrack"),
                        InstanceMethod<&NfQueue::CtOn>("ctOn"),
                        InstanceMethod<&NfQueue::Close>("close")});
  }

  explicit NfQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NfQueue>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "NfQueue(options): options object required").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    nfq::Options opt;
    opt.queue = optU32(o, "queue", 0);
    opt.copyRange = optU32(o, "copyRange", opt.copyRange);
    opt.maxLen = optU32(o, "maxLen", opt.maxLen);
    opt.rcvBuf = optU32(o, "rcvBuf", opt.rcvBuf);
    opt.failOpen = optBool(o, "failOpen", opt.failOpen);
    opt.gso = optBool(o, "gso", opt.gso);
    opt.batch = optBool(o, "batch", opt.batch);
    Napi::Value mode = o.Get("verdictMode");
    if (mode.IsString() && mode.As<Napi::String>().Utf8Value() == "per-packet") {
      opt.batch = false;
      opt.sendEach = true;
    } else if (!mode.IsUndefined() && !(mode.IsString() && mode.As<Napi::String>().Utf8Value() == "batch")) {
      Napi::TypeError::New(env, "NfQueue: verdictMode must be 'batch' or 'per-packet'").ThrowAsJavaScriptException();
      return;
    }
    int err = sock_.open(opt);
    if (err) errnoError(env, "nfqueue bind", err).ThrowAsJavaScriptException();
  }

  ~NfQueue() override {
    closeThread();
    closePoll();
  }

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sock_.fd()); }

  // start(onReadable): calls onReadable(status) each time the socket is readable.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (sock_.fd() < 0) return throwErr(errnoError(env, "nfqueue start", -EBADF));
    if (info.Length() < 1 || !info[0].IsFunction()) return throwErr(Napi::TypeError::New(env, "start(callback) needs a function"));
    onReadable_ = Napi::Persistent(info[0].As<Napi::Function>());
#ifdef WASMVS_NATIVE_CORE
    if (thread_) {
      // The queue's thread reads and decides; the callback runs when it hands a burst over.
      if (!polling_) {
        Ref();
        uv_ref(reinterpret_cast<uv_handle_t*>(async_));
      }
      polling_ = true;
      thread_->resume();
      return env.Undefined();
    }
#endif
    if (!poll_) {
      uv_loop_t* loop = nullptr;
      napi_get_uv_event_loop(env, &loop);
      poll_ = new uv_poll_t;
      int r = uv_poll_init(loop, poll_, sock_.fd());
      if (r != 0) {
        delete poll_;
        poll_ = nullptr;
        return throwErr(errnoError(env, "uv_poll_init", r));
      }
      poll_->data = this;
    }
    int r = uv_poll_start(poll_, UV_READABLE, &NfQueue::OnPoll);
    if (r != 0) return throwErr(errnoError(env, "uv_poll_start", r));
    if (!polling_) Ref();  // keep the JS object alive while libuv holds a pointer to it
    polling_ = true;
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    stopPoll();
    return info.Env().Undefined();
  }

  // read(buf, stride, max) -> number of records written into buf (stride 0: packed).
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber())
      return throwErr(Napi::TypeError::New(env, "read(buffer: Uint8Array, stride: number, max: number)"));
    Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
    std::lock_guard<std::mutex> g(sockMu_);
    int n = sock_.readBurst(buf.Data(), buf.ByteLength(), info[1].As<Napi::Number>().Uint32Value(),
                            info[2].As<Napi::Number>().Uint32Value());
    if (n < 0) return throwErr(errnoError(env, "nfqueue read", n));
    return Napi::Number::New(env, n);
  }

  // verdicts(records, count, payloads?, batch?) -> netlink messages sent. batch false: no batch verdicts
  // (the caller holds queued packets back, which a batch verdict for a later id would take too).
  Napi::Value Verdicts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber())
      return throwErr(Napi::TypeError::New(env, "verdicts(records: Uint8Array, count: number, payloads?: Uint8Array, batch?: boolean)"));
    Napi::Uint8Array recs = info[0].As<Napi::Uint8Array>();
    uint32_t n = info[1].As<Napi::Number>().Uint32Value();
    if (size_t(n) * nfq::VER_STRIDE > recs.ByteLength())
      return throwErr(Napi::RangeError::New(env, "verdicts: count exceeds the records buffer"));
    const uint8_t* pay = nullptr;
    size_t payLen = 0;
    if (info.Length() > 2 && info[2].IsTypedArray()) {
      Napi::Uint8Array p = info[2].As<Napi::Uint8Array>();
      pay = p.Data();
      payLen = p.ByteLength();
    }
    bool batch = !(info.Length() > 3 && info[3].IsBoolean() && !info[3].As<Napi::Boolean>().Value());
    std::lock_guard<std::mutex> g(sockMu_);
    int r = sock_.sendVerdicts(recs.Data(), n, pay, payLen, batch);
    if (r < 0) return throwErr(errnoError(env, "nfqueue verdict", r));
    return Napi::Number::New(env, r);
  }

  // setGso(on): GSO super-packets queued whole (true) or segmented by the kernel first.
  Napi::Value SetGso(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBoolean()) return throwErr(Napi::TypeError::New(env, "setGso(on: boolean)"));
    std::lock_guard<std::mutex> g(sockMu_);
    int r = sock_.setGso(info[0].As<Napi::Boolean>().Value());
    if (r < 0) return throwErr(errnoError(env, "nfqueue setGso", r));
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_lock<std::mutex> g(sockMu_);
    const nfq::Stats s = sock_.stats();
    g.unlock();
    Napi::Object o = Napi::Object::New(env);
    o.Set("packets", double(s.packets));
    o.Set("enobufs", double(s.enobufs));
    o.Set("nlErrors", double(s.nlErrors));
    o.Set("malformed", double(s.malformed));
    o.Set("foreign", double(s.foreign));
    o.Set("verdictMsgs", double(s.verdictMsgs));
    o.Set("sends", double(s.sends));
    o.Set("recvCalls", double(s.recvCalls));
#ifdef WASMVS_NATIVE_CORE
    if (thread_) {
      nfq::ThreadStats t = thread_->stats();
      Napi::Object th = Napi::Object::New(env);
      th.Set("bursts", double(t.bursts));
      th.Set("packets", double(t.packets));
      th.Set("handedRaw", double(t.handedRaw));
      th.Set("handedDecided", double(t.handedDecided));
      th.Set("sendErrors", double(t.sendErrors));
      th.Set("lastError", t.lastError);
      th.Set("ctEvents", double(t.ctEvents));
      th.Set("ctFed", t.ctFed);
      th.Set("staleSyns", double(t.staleSyns));
      o.Set("thread", th);
    }
#endif
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    closeThread();
    closePoll();
    std::lock_guard<std::mutex> g(sockMu_);
    sock_.close();
    return info.Env().Undefined();
  }

  /**
   * useCore(nativeCore, { area, stride, burst, clockSeconds, clockNs }): from the next start() on, a
   * thread of this queue reads and decides its bursts on that native core (nfq_thread.h), in I/O area
   * `area` (1 or more); start()'s callback then runs when it hands a burst to JS (takeHanded). False when
   * this addon has no native core, `nativeCore` is not one, or the queue has a thread already.
   */
  Napi::Value UseCore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
#ifdef WASMVS_NATIVE_CORE
    if (info.Length() < 2 || !info[1].IsObject()) return throwErr(Napi::TypeError::New(env, "useCore(core, options)"));
    wasmvs::CoreInstance* c = wasmvs::CoreOf(info[0]);
    if (c == nullptr || thread_ || polling_ || sock_.fd() < 0) return Napi::Boolean::New(env, false);
    Napi::Object o = info[1].As<Napi::Object>();
    nfq::ThreadOptions t;
    t.area = int(optU32(o, "area", 1));
    t.stride = optU32(o, "stride", 0);
    t.burst = std::max<uint32_t>(1, optU32(o, "burst", 64));
    Napi::Value cs = o.Get("clockSeconds"), cn = o.Get("clockNs");
    t.clockSeconds = cs.IsNumber() ? cs.As<Napi::Number>().DoubleValue() : 0;
    t.clockNs = cn.IsNumber() ? uint64_t(cn.As<Napi::Number>().DoubleValue()) : 0;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    auto th = std::make_unique<nfq::QueueThread>(sock_, sockMu_, c, t, &NfQueue::Notify, this);
    int err = th->init();
    if (err) return throwErr(errnoError(env, "nfqueue thread", err));
    async_ = new uv_async_t;
    if (uv_async_init(loop, async_, &NfQueue::OnHanded) != 0) {
      delete async_;
      async_ = nullptr;
      return Napi::Boolean::New(env, false);
    }
    async_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(async_));
    coreRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    thread_ = std::move(th);
    return Napi::Boolean::New(env, true);
#else
    return Napi::Boolean::New(env, false);
#endif
  }

  // takeHanded(packets: Uint8Array, list: Uint8Array) -> { n, decided, status } | null: the burst the
  // thread handed over, its records copied to `packets` and (decided) its verdicts to `list`.
  Napi::Value TakeHanded(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
#ifdef WASMVS_NATIVE_CORE
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray())
      return throwErr(Napi::TypeError::New(env, "takeHanded(packets: Uint8Array, list: Uint8Array)"));
    if (!thread_) return env.Null();
    Napi::Uint8Array p = info[0].As<Napi::Uint8Array>(), l = info[1].As<Napi::Uint8Array>();
    nfq::Handed h;
    if (!thread_->take(h)) return env.Null();
    // The views are JS's own I/O area's regions, as large as the thread's: never short, but checked.
    memcpy(p.Data(), h.packets.data(), std::min(h.packets.size(), p.ByteLength()));
    if (h.decided) memcpy(l.Data(), h.list.data(), std::min(h.list.size(), l.ByteLength()));
    Napi::Object o = Napi::Object::New(env);
    o.Set("n", double(h.n));
    o.Set("decided", h.decided);
    o.Set("status", h.status);
    if (!h.ctActs.empty()) {
      o.Set("ct", Napi::Buffer<uint8_t>::Copy(env, h.ctRecs.data(), h.ctRecs.size()));
      o.Set("acts", Napi::Buffer<uint8_t>::Copy(env, h.ctActs.data(), h.ctActs.size()));
    }
    return o;
#else
    return env.Null();
#endif
  }

  // handedDone(): the burst takeHanded returned is answered (its verdicts sent or held); the thread goes on.
  Napi::Value HandedDone(const Napi::CallbackInfo& info) {
#ifdef WASMVS_NATIVE_CORE
    if (thread_) thread_->done();
#endif
    return info.Env().Undefined();
  }

  // useConntrack(conntrack, { mark, mask, settled, young }): before a burst with stale SYNs the thread reads
  // this feed's pending destroy events and has the core apply them (ctApply) itself, while ctOn(true).
  Napi::Value UseConntrack(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
#ifdef WASMVS_NATIVE_CORE
    if (info.Length() < 2 || !info[1].IsObject()) return throwErr(Napi::TypeError::New(env, "useConntrack(conntrack, options)"));
    void* ct = ConntrackOf(info[0]);
    if (!thread_ || ct == nullptr) return Napi::Boolean::New(env, false);
    Napi::Object o = info[1].As<Napi::Object>();
    nfq::CtOptions c;
    c.ct = ct;
    c.mark = optU32(o, "mark", 0);
    c.mask = optU32(o, "mask", 0);
    c.settled = optU32(o, "settled", 0);
    c.young = optU32(o, "young", 0);
    if (thread_->useConntrack(c) != 0) return Napi::Boolean::New(env, false);
    ctRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    return Napi::Boolean::New(env, true);
#else
    return Napi::Boolean::New(env, false);
#endif
  }

  // ctOn(on): whether the thread reads the feed's destroy events itself now (useConntrack).
  // allowBatch(ok): whether the thread may send batch verdicts (false while JS holds packets of this queue).
  // staleCheck(on): whether the thread asks the core for stale SYNs (gwStaleSyns) before deciding.
#ifdef WASMVS_NATIVE_CORE
  Napi::Value CtOn(const Napi::CallbackInfo& info) { return onThread(info, &nfq::QueueThread::ctOn); }
  Napi::Value AllowBatch(const Napi::CallbackInfo& info) { return onThread(info, &nfq::QueueThread::allowBatch); }
  Napi::Value StaleCheck(const Napi::CallbackInfo& info) { return onThread(info, &nfq::QueueThread::staleCheck); }
#else
  Napi::Value CtOn(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
  Napi::Value AllowBatch(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
  Napi::Value StaleCheck(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
#endif

  // setReady(slots: Uint32Array): the real servers (dest id & GW_DR_SLOT_MASK) whose rules are in.
  Napi::Value SetReady(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
#ifdef WASMVS_NATIVE_CORE
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      return throwErr(Napi::TypeError::New(env, "setReady(slots: Uint32Array)"));
    Napi::Uint32Array a = info[0].As<Napi::Uint32Array>();
    if (thread_) thread_->setReady(a.Data(), a.ElementLength());
#endif
    return env.Undefined();
  }

  static void OnPoll(uv_poll_t* h, int status, int) {
    auto* self = static_cast<NfQueue*>(h->data);
    if (!self || self->onReadable_.IsEmpty()) return;
    // libuv reports EPOLLERR as UV_EBADF and stops the handle. On a netlink socket it means a
    // pending socket error: ENOBUFS after the kernel could not queue a packet to us (an overrun
    // while we were away, or left by a burst's last recvmmsg). That is no reason to stop reading:
    // the error is taken (counted as the recv that met it would have) and polling goes on.
    if (status == UV_EBADF && self->polling_ && self->sock_.takeError() > 0 && uv_poll_start(h, UV_READABLE, &NfQueue::OnPoll) == 0)
      status = 0;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->onReadable_.MakeCallback(self->Value(), {Napi::Number::New(env, status)});
  }

#ifdef WASMVS_NATIVE_CORE
  // A boolean setting of the queue's thread, from the call's first argument (nothing without a thread).
  Napi::Value onThread(const Napi::CallbackInfo& info, void (nfq::QueueThread::*set)(bool)) {
    if (thread_ && info.Length() > 0) (thread_.get()->*set)(info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }
#endif

#ifdef WASMVS_NATIVE_CORE
  static void Notify(void* ctx) { uv_async_send(static_cast<NfQueue*>(ctx)->async_); }

  static void OnHanded(uv_async_t* h) {
    auto* self = static_cast<NfQueue*>(h->data);
    if (!self || self->onReadable_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->onReadable_.MakeCallback(self->Value(), {Napi::Number::New(env, 0)});
  }
#endif

  void closeThread() {
#ifdef WASMVS_NATIVE_CORE
    if (thread_) {
      thread_->quit();
      thread_.reset();
    }
    if (async_) {
      async_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
      async_ = nullptr;
    }
    if (!coreRef_.IsEmpty()) coreRef_.Reset();
    if (!ctRef_.IsEmpty()) ctRef_.Reset();
#endif
  }

  void stopPoll() {
#ifdef WASMVS_NATIVE_CORE
    if (thread_) {
      thread_->pause();
      if (polling_ && async_) uv_unref(reinterpret_cast<uv_handle_t*>(async_));
    }
#endif
    if (poll_ && polling_) uv_poll_stop(poll_);
    if (polling_) Unref();
    polling_ = false;
  }

  void closePoll() {
    stopPoll();
    if (poll_) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
  }

  Napi::Value throwErr(const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return e.Env().Undefined();
  }

  nfq::Socket sock_;
  // The socket's calls from JS and from the queue's thread, one at a time.
  std::mutex sockMu_;
#ifdef WASMVS_NATIVE_CORE
  std::unique_ptr<nfq::QueueThread> thread_;
  uv_async_t* async_ = nullptr;
  Napi::ObjectReference coreRef_;
  Napi::ObjectReference ctRef_;
#endif
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  Napi::FunctionReference onReadable_;
};

// Test-only: parseDatagram on bytes from JavaScript (datagram, senderPid, out,
// stride (0: packed), max) → { count, packets, malformed, foreign, nlErrors, used }. Lets the
// parser's bounds be tested on crafted and malformed netlink messages without
// a kernel; it touches no socket.
Napi::Value ParseDatagramForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "parseDatagram(datagram, senderPid, out, stride, max)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array in = info[0].As<Napi::Uint8Array>(), out = info[2].As<Napi::Uint8Array>();
  uint32_t stride = info[3].As<Napi::Number>().Uint32Value(), max = info[4].As<Napi::Number>().Uint32Value();
  nfq::Stats s;
  size_t used = 0;
  uint32_t n = nfq::parseDatagram(in.Data(), in.ByteLength(), info[1].As<Napi::Number>().Uint32Value(), out.Data(),
                                  out.ByteLength(), stride, max, s, &used);
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", double(n));
  o.Set("packets", double(s.packets));
  o.Set("malformed", double(s.malformed));
  o.Set("foreign", double(s.foreign));
  o.Set("nlErrors", double(s.nlErrors));
  o.Set("used", double(used));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("parseDatagramForTest", Napi::Function::New(env, ParseDatagramForTest));
  exports.Set("NfQueue", NfQueue::Define(env));
  exports.Set("Conntrack", DefineConntrack(env));
  exports.Set("parseCtForTest", Napi::Function::New(env, ParseCtForTest));
  exports.Set("REC_HEADER", Napi::Number::New(env, nfq::REC_HEADER));
  exports.Set("VER_STRIDE", Napi::Number::New(env, nfq::VER_STRIDE));
  exports.Set("REC_ROOM", Napi::Number::New(env, nfq::REC_ROOM));
  exports.Set("MAX_COPY", Napi::Number::New(env, nfq::MAX_COPY));
  InitSplice(env, exports);
  InitEngine(env, exports);
#ifdef WASMVS_NATIVE_CORE
  exports.Set("NativeCore", wasmvs::DefineNativeCore(env));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(wasmvs_nfq, Init)
