// Node-API surface of the native core: the core's own AssemblyScript,
// compiled without SIMD and translated to C by wasm2c
// (scripts/gen-native-core.mjs), in this process's address space instead of
// V8's. JS sees what a WebAssembly instance offers: `exports()` gives one
// function per export (same names, same i32/f64 conversions and results,
// traps thrown as WebAssembly.RuntimeError) and `buffer()` the linear memory
// as an ArrayBuffer, detached when the memory grows, as a wasm memory's
// buffer is. So the SDK runs on it unchanged (sdk/core/native.ts).
//
// What it adds: threads of this addon can call the same instance (lock()),
// so a host can decide packets or connections off Node's thread on the one
// core the rest of the daemon configures and lists. Every call, from JS or
// from a thread, holds the instance's mutex.
#include <napi.h>
#include <string.h>

#include <mutex>
#include <string>
#include <vector>

#include "core_native.h"
#include "core_rt.h"

extern "C" {
#include "../gen/core.h"
}

namespace wasmvs {

/** Where the core called abort; set just before it traps, read by the caller that caught the trap (under the lock). */
struct AbortInfo {
  bool set = false;
  uint32_t msg = 0, file = 0, line = 0, col = 0;
};

struct CoreInstance {
  Z_wasmvs_instance_t inst;
  std::mutex mu;
  AbortInfo lastAbort;
};

}  // namespace wasmvs

// The core's one import (AssemblyScript's abort): remember where, then trap. Its "env instance" is
// the instance's AbortInfo (core_instantiate passes it).
extern "C" void Z_envZ_abort(struct Z_env_instance_t* env, u32 msg, u32 file, u32 line, u32 col) {
  auto* a = reinterpret_cast<wasmvs::AbortInfo*>(env);
  a->set = true;
  a->msg = msg;
  a->file = file;
  a->line = line;
  a->col = col;
  wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
}

namespace wasmvs {

namespace {

// Not std::call_once: its thread-local state would make the addon need the dynamic loader's TLS
// (__tls_get_addr, ld-linux as a NEEDED library) and a newer glibc (pthread_once@2.34).
std::mutex moduleMu;
bool moduleReady = false;

/** An AssemblyScript string (UTF-16LE, byte length in the word before it) from linear memory, ASCII only. */
std::string asString(const wasm_rt_memory_t& m, uint32_t ptr) {
  if (ptr < 4 || uint64_t(ptr) > m.size) return "";
  uint32_t bytes;
  memcpy(&bytes, m.data + ptr - 4, 4);
  if (uint64_t(ptr) + bytes > m.size || bytes > 4096) return "";
  std::string s;
  for (uint32_t i = 0; i + 1 < bytes; i += 2) {
    uint16_t c;
    memcpy(&c, m.data + ptr + i, 2);
    s.push_back(c < 128 ? char(c) : '?');
  }
  return s;
}

class NativeCore : public Napi::ObjectWrap<NativeCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCore",
                       {InstanceMethod<&NativeCore::Exports>("exports"), InstanceMethod<&NativeCore::Buffer>("buffer"),
                        InstanceMethod<&NativeCore::Pages>("pages")});
  }

  explicit NativeCore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCore>(info) {
    {
      std::lock_guard<std::mutex> g(moduleMu);
      if (!moduleReady) {
        wasm_rt_init();
        Z_wasmvs_init_module();
        moduleReady = true;
      }
    }
    core_ = new CoreInstance();
    std::lock_guard<std::mutex> g(core_->mu);
    int trap = core_instantiate(&core_->inst, reinterpret_cast<struct Z_env_instance_t*>(&core_->lastAbort));
    if (trap != 0) {
      throwTrap(info.Env(), trap);
      return;
    }
    size_ = core_->inst.w2c_memory.size;
  }

  ~NativeCore() override {
    // A host thread still holding the core would be a host bug: the daemon stops its threads first.
    if (core_ != nullptr) {
      Z_wasmvs_free(&core_->inst);
      delete core_;
    }
    for (ExportData* d : data_) delete d;
  }

  CoreInstance* core() { return core_; }

 private:
  struct ExportData {
    NativeCore* self;
    uint32_t fn;
  };

  static napi_value Call(napi_env env, napi_callback_info info) {
    size_t argc = 8;
    napi_value argv[8];
    void* data = nullptr;
    napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    auto* d = static_cast<ExportData*>(data);
    const core_export_t& e = core_exports[d->fn];
    core_value_t a[8];
    for (uint32_t i = 0; i < e.nparams; i++) {
      napi_value v = nullptr;
      if (i < argc) v = argv[i];
      else napi_get_undefined(env, &v);
      if (e.params[i] == 'i') {
        // ToInt32, as a wasm i32 parameter takes it (NaN and ±Infinity are 0).
        if (napi_get_value_int32(env, v, &a[i].i) != napi_ok) {
          napi_value n;
          if (napi_coerce_to_number(env, v, &n) != napi_ok) return nullptr;  // coercion threw (a Symbol, a BigInt)
          napi_get_value_int32(env, n, &a[i].i);
        }
      } else if (napi_get_value_double(env, v, &a[i].d) != napi_ok) {
        napi_value n;
        if (napi_coerce_to_number(env, v, &n) != napi_ok) return nullptr;
        napi_get_value_double(env, n, &a[i].d);
      }
    }
    core_value_t r;
    r.d = 0;
    int trap;
    uint32_t size;
    CoreInstance* c = d->self->core_;
    {
      std::lock_guard<std::mutex> g(c->mu);
      c->lastAbort.set = false;
      trap = core_invoke(&c->inst, d->fn, a, &r);
      // Read under the lock: the addon's threads may grow the memory too.
      size = c->inst.w2c_memory.size;
    }
    d->self->afterCall(env, size);
    if (trap != 0) {
      d->self->throwTrap(Napi::Env(env), trap);
      return nullptr;
    }
    napi_value out;
    if (e.result == 'i') napi_create_int32(env, r.i, &out);
    else if (e.result == 'd') napi_create_double(env, r.d, &out);
    else napi_get_undefined(env, &out);
    return out;
  }

  /** Memory grew during a call: the old buffer is detached (as a wasm memory's is); buffer() makes the next. */
  void afterCall(napi_env env, uint32_t size) {
    if (size == size_) return;
    size_ = size;
    if (!buf_.IsEmpty()) {
      Napi::ArrayBuffer old = buf_.Value();
      napi_detach_arraybuffer(env, old);
      buf_.Reset();
    }
  }

  void throwTrap(Napi::Env env, int trap) {
    std::string msg;
    AbortInfo& ab = core_->lastAbort;
    if (ab.set) {
      const wasm_rt_memory_t& m = core_->inst.w2c_memory;
      msg = "abort: " + asString(m, ab.msg) + " at " + asString(m, ab.file) + ":" + std::to_string(ab.line) + ":" + std::to_string(ab.col);
      ab.set = false;
    } else {
      msg = trap == -2 ? "no such export" : wasm_rt_strerror(wasm_rt_trap_t(trap));
    }
    Napi::Object wasm = env.Global().Get("WebAssembly").As<Napi::Object>();
    Napi::Value ctor = wasm.Get("RuntimeError");
    if (ctor.IsFunction()) {
      Napi::Value err = ctor.As<Napi::Function>().New({Napi::String::New(env, msg)});
      Napi::Error(env, err).ThrowAsJavaScriptException();
    } else {
      Napi::Error::New(env, msg).ThrowAsJavaScriptException();
    }
  }

  Napi::Value Exports(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!exports_.IsEmpty()) return exports_.Value();
    Napi::Object o = Napi::Object::New(env);
    for (uint32_t i = 0; i < core_export_count; i++) {
      auto* d = new ExportData{this, i};
      data_.push_back(d);
      napi_value fn;
      napi_create_function(env, core_exports[i].name, NAPI_AUTO_LENGTH, Call, d, &fn);
      o.Set(core_exports[i].name, Napi::Value(env, fn));
    }
    exports_ = Napi::Persistent(o);
    return o;
  }

  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t size;
    {
      std::lock_guard<std::mutex> g(core_->mu);
      size = core_->inst.w2c_memory.size;
    }
    // A thread grew it since the last call from here: the old buffer goes as after a call.
    afterCall(env, size);
    if (!buf_.IsEmpty()) return buf_.Value();
    // The memory is one fixed reservation (core_rt.c): the buffer's bytes are the instance's, not a copy.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, core_->inst.w2c_memory.data, size);
    buf_ = Napi::Persistent(ab);
    return ab;
  }

  Napi::Value Pages(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> g(core_->mu);
    return Napi::Number::New(info.Env(), core_->inst.w2c_memory.pages);
  }

  CoreInstance* core_ = nullptr;
  uint32_t size_ = 0;
  Napi::Reference<Napi::ArrayBuffer> buf_;
  Napi::ObjectReference exports_;
  std::vector<ExportData*> data_;
};

}  // namespace

Napi::Function DefineNativeCore(Napi::Env env) { return NativeCore::Define(env); }

CoreInstance* CoreOf(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  NativeCore* c = nullptr;
  if (napi_unwrap(v.Env(), v, reinterpret_cast<void**>(&c)) != napi_ok || c == nullptr) return nullptr;
  return c->core();
}

std::mutex& CoreMutex(CoreInstance* c) { return c->mu; }

int CoreExport(const char* name) {
  for (uint32_t i = 0; i < core_export_count; i++)
    if (strcmp(core_exports[i].name, name) == 0) return int(i);
  return -1;
}

int CoreCall(CoreInstance* c, int fn, const core_value_t* args, core_value_t* ret) {
  c->lastAbort.set = false;
  return core_invoke(&c->inst, uint32_t(fn), args, ret);
}

uint8_t* CoreData(CoreInstance* c, uint32_t* size) {
  if (size != nullptr) *size = c->inst.w2c_memory.size;
  return c->inst.w2c_memory.data;
}

}  // namespace wasmvs
