// Node-API surface of the splice pump (splice_pump.h): JS hands over the two
// sockets of a proxied TCP connection by fd and gets its events back in
// batches, as one Float64Array of RECORD numbers per event
// [id, kind, side, errno, inBytes, inChunks, outBytes, outChunks],
// through a thread-safe function (one call per batch, none while a batch
// waits). Needs no privilege; policy stays in hosts/proxy/splice.ts.
#include <napi.h>
#include <string.h>

#include "splice_pump.h"

namespace {

constexpr int RECORD = 8;

class SplicePump : public Napi::ObjectWrap<SplicePump> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SplicePump",
                       {InstanceMethod<&SplicePump::Add>("add"), InstanceMethod<&SplicePump::Abort>("abort"),
                        InstanceMethod<&SplicePump::Stats>("stats"), InstanceMethod<&SplicePump::Close>("close")});
  }

  explicit SplicePump(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SplicePump>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "SplicePump(onEvents, options?): onEvents function required").ThrowAsJavaScriptException();
      return;
    }
    splicepump::Options opt;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Get("pipeSize").IsNumber()) opt.pipeSize = o.Get("pipeSize").As<Napi::Number>().Int32Value();
      if (o.Get("reportMs").IsNumber()) opt.reportMs = o.Get("reportMs").As<Napi::Number>().Int32Value();
    }
    if (opt.pipeSize < 4096 || opt.reportMs < 1) {
      Napi::RangeError::New(env, "SplicePump: pipeSize >= 4096 and reportMs >= 1 required").ThrowAsJavaScriptException();
      return;
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "wasmvs-splice", 0, 1);
    // The pump does not keep the process alive: the sockets' owners (listeners, the daemon) do.
    tsfn_.Unref(env);
    pump_ = new splicepump::Pump(opt, &SplicePump::Notify, this);
    if (!pump_->start()) {
      int e = errno;
      delete pump_;
      pump_ = nullptr;
      tsfn_.Release();
      ThrowErrno(env, "SplicePump: epoll", e);
    }
  }

  ~SplicePump() override { Shutdown(); }

 private:
  static void ThrowErrno(Napi::Env env, const char* what, int e) {
    const char* name = strerrorname_np(e);
    Napi::Error err = Napi::Error::New(env, std::string(what) + ": " + strerror(e));
    err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
    err.ThrowAsJavaScriptException();
  }

  /** Pump thread: events wait. The batch is taken on the JS thread, when the call runs. */
  static void Notify(void* ctx) {
    auto* self = static_cast<SplicePump*>(ctx);
    self->tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function cb) { self->Deliver(env, cb); });
  }

  void Deliver(Napi::Env env, Napi::Function cb) {
    if (pump_ == nullptr) return;
    batch_.clear();
    pump_->take(batch_);
    if (batch_.empty()) return;
    Napi::Float64Array a = Napi::Float64Array::New(env, batch_.size() * RECORD);
    double* p = a.Data();
    for (const splicepump::Event& e : batch_) {
      p[0] = e.id;
      p[1] = e.kind;
      p[2] = e.side;
      p[3] = e.err;
      p[4] = double(e.inBytes);
      p[5] = double(e.inChunks);
      p[6] = double(e.outBytes);
      p[7] = double(e.outChunks);
      p += RECORD;
    }
    cb.Call({a});
  }

  static std::string bytesOf(const Napi::Value& v) {
    if (!v.IsBuffer()) return std::string();
    auto b = v.As<Napi::Buffer<char>>();
    return std::string(b.Data(), b.Length());
  }

  /** add(id, clientFd, serverFd, preIn?, preOut?, eofIn, eofOut): the pump owns duplicates of both fds. */
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (pump_ == nullptr) { ThrowErrno(env, "SplicePump.add", ESHUTDOWN); return env.Undefined(); }
    if (info.Length() < 7 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "add(id, clientFd, serverFd, preIn, preOut, eofIn, eofOut)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int a = info[1].As<Napi::Number>().Int32Value(), b = info[2].As<Napi::Number>().Int32Value();
    if (a < 0 || b < 0) { ThrowErrno(env, "SplicePump.add", EBADF); return env.Undefined(); }
    std::string pre[2] = {bytesOf(info[3]), bytesOf(info[4])};
    bool eof[2] = {info[5].ToBoolean().Value(), info[6].ToBoolean().Value()};
    int e = pump_->add(info[0].As<Napi::Number>().Uint32Value(), a, b, pre, eof);
    if (e != 0) ThrowErrno(env, "SplicePump.add", e);
    return env.Undefined();
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    if (pump_ != nullptr && info.Length() > 0 && info[0].IsNumber()) pump_->abort(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    splicepump::Stats s = pump_ != nullptr ? pump_->stats() : splicepump::Stats{};
    o.Set("conns", double(s.conns));
    o.Set("pipes", double(s.pipes));
    o.Set("pooled", double(s.pooled));
    o.Set("spliced", double(s.spliced));
    o.Set("copied", double(s.copied));
    o.Set("added", double(s.added));
    o.Set("closed", double(s.closed));
    return o;
  }

  /** Stops the thread (open connections are reset) and lets go of the callback. */
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  void Shutdown() {
    if (pump_ == nullptr) return;
    pump_->stop();
    delete pump_;
    pump_ = nullptr;
    tsfn_.Release();
  }

  splicepump::Pump* pump_ = nullptr;
  Napi::ThreadSafeFunction tsfn_;
  std::vector<splicepump::Event> batch_;
};

}  // namespace

/** Called from the addon's Init (addon.cc). */
void InitSplice(Napi::Env env, Napi::Object exports) {
  exports.Set("SplicePump", SplicePump::Define(env));
}
