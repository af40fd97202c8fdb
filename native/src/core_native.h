// The native core (core_native.cc) as other parts of the addon see it: an
// instance they may call from their own threads, under its mutex.
#ifndef WASMVS_CORE_NATIVE_H_
#define WASMVS_CORE_NATIVE_H_

#include <napi.h>

#include <mutex>

namespace wasmvs {

struct CoreInstance;

/** The NativeCore class (exported to JS when the addon was built with the native core). */
Napi::Function DefineNativeCore(Napi::Env env);
/** The instance behind a NativeCore object; null for anything else. */
CoreInstance* CoreOf(Napi::Value v);
/** Held around every call into the instance. */
std::mutex& CoreMutex(CoreInstance* c);

}  // namespace wasmvs

#endif
