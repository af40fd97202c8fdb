// The native core (core_native.cc) as other parts of the addon see it: an
// instance they may call from their own threads, under its mutex.
#ifndef WASMVS_CORE_NATIVE_H_
#define WASMVS_CORE_NATIVE_H_

#include <napi.h>

#include <mutex>

#include "core_rt.h"

namespace wasmvs {

struct CoreInstance;

/** The NativeCore class (exported to JS when the addon was built with the native core). */
Napi::Function DefineNativeCore(Napi::Env env);
/** The instance behind a NativeCore object; null for anything else. */
CoreInstance* CoreOf(Napi::Value v);
/** Held around every call into the instance. */
std::mutex& CoreMutex(CoreInstance* c);
/** An export's index for CoreCall; -1 when the core has none by that name. */
int CoreExport(const char* name);
/** Calls export `fn` (the caller holds CoreMutex); 0, or the trap code. */
int CoreCall(CoreInstance* c, int fn, const core_value_t* args, core_value_t* ret);
/** The linear memory (its address never changes; its size may grow with a call). */
uint8_t* CoreData(CoreInstance* c, uint32_t* size);

}  // namespace wasmvs

#endif
