// The runtime under the native build of the core (wasm2c's C translation of
// the same AssemblyScript, build/wasmvs.native.wasm): linear memory, traps and
// function types, as wasm-rt.h declares them. Our own, small and sufficient
// for the core: one memory, no exceptions, no signal handler (the generated
// code checks every access against the memory's size instead, so Node's and
// V8's signal handlers are left alone).
//
// Memory is one reservation of the whole 32-bit space (PROT_NONE,
// MAP_NORESERVE), made readable and writable as it grows: its address never
// changes, so a pointer a host thread took stays valid. Every call into the
// core is serialised by the caller (core_native.cc's lock), which is what
// makes the one jmp_buf and the one depth counter here safe.
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core_rt.h"

#define PAGE_SIZE 65536u
#define MAX_PAGES 65536u

uint32_t wasm_rt_call_stack_depth;
static uint32_t saved_depth;
static jmp_buf* unwind;
static bool initialized;

void wasm_rt_init(void) { initialized = true; }
bool wasm_rt_is_initialized(void) { return initialized; }
void wasm_rt_free(void) { initialized = false; }

void wasm_rt_set_unwind_target(jmp_buf* target) { unwind = target; }
jmp_buf* wasm_rt_get_unwind_target(void) { return unwind; }

void wasm_rt_trap(wasm_rt_trap_t code) {
  wasm_rt_call_stack_depth = saved_depth;
  if (unwind == NULL) abort();  // a call into the core outside core_call(): a host bug
  longjmp(*unwind, (int)code == 0 ? -1 : (int)code);
}

const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  switch (trap) {
    case WASM_RT_TRAP_OOB: return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable";
    case WASM_RT_TRAP_CALL_INDIRECT: return "indirect call signature mismatch";
    case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
    default: return "trap";
  }
}

// Function types: interned, so equal signatures get equal indices (call_indirect compares them).
typedef struct {
  uint32_t params, results;
  wasm_rt_type_t types[16];
} func_type_t;
static func_type_t* types;
static uint32_t ntypes;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  func_type_t t;
  memset(&t, 0, sizeof t);
  t.params = params;
  t.results = results;
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params + results; i++) {
    wasm_rt_type_t v = (wasm_rt_type_t)va_arg(ap, int);
    if (i < 16) t.types[i] = v;
  }
  va_end(ap);
  if (params + results > 16) abort();  // the core has no such function
  for (uint32_t i = 0; i < ntypes; i++)
    if (memcmp(&types[i], &t, sizeof t) == 0) return i + 1;
  func_type_t* grown = realloc(types, (ntypes + 1) * sizeof *types);
  if (grown == NULL) abort();
  types = grown;
  types[ntypes++] = t;
  return ntypes;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  if (max > MAX_PAGES) max = MAX_PAGES;
  size_t reserve = (size_t)MAX_PAGES * PAGE_SIZE;
  void* p = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) abort();
  if (initial > 0 && mprotect(p, (size_t)initial * PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) abort();
  m->data = p;
  m->pages = initial;
  m->max_pages = max;
  m->size = initial * PAGE_SIZE;
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* m, uint32_t delta) {
  uint32_t old = m->pages;
  uint64_t pages = (uint64_t)old + delta;
  // size is a uint32_t: the last page of the 4 GiB would not fit it.
  if (pages > m->max_pages || pages >= MAX_PAGES) return UINT32_MAX;
  if (delta == 0) return old;
  if (mprotect(m->data + (size_t)old * PAGE_SIZE, (size_t)delta * PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) return UINT32_MAX;
  m->pages = (uint32_t)pages;
  m->size = (uint32_t)(pages * PAGE_SIZE);
  return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t* m) {
  if (m->data != NULL) munmap(m->data, (size_t)MAX_PAGES * PAGE_SIZE);
  m->data = NULL;
  m->pages = m->size = 0;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t* t, uint32_t elements, uint32_t max) {
  t->data = calloc(elements ? elements : 1, sizeof(wasm_rt_funcref_t));
  if (t->data == NULL) abort();
  t->size = elements;
  t->max_size = max;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t* t) {
  free(t->data);
  t->data = NULL;
  t->size = 0;
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t* t, uint32_t elements, uint32_t max) {
  t->data = calloc(elements ? elements : 1, sizeof(wasm_rt_externref_t));
  if (t->data == NULL) abort();
  t->size = elements;
  t->max_size = max;
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t* t) {
  free(t->data);
  t->data = NULL;
  t->size = 0;
}

int core_rt_enter(jmp_buf* target) {
  saved_depth = wasm_rt_call_stack_depth;
  unwind = target;
  return 0;
}
