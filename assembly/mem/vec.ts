// Growable arrays of record pointers and fixed arrays of numbers in linear
// memory, from the one allocator (alloc.ts). No managed objects: a `Vec` is a
// 12-byte header (it may live inside another record, see Service.dests) and
// `Ptrs`/`Nums` are views whose address is the first element.
import { alloc, free } from "./alloc";
import { Nums } from "./nums";

export { Nums };

/** A view of pointer-sized elements at its own address. */
@unmanaged export class Ptrs<T> {
  @inline @operator("[]") get(i: i32): T {
    return changetype<T>(load<usize>(changetype<usize>(this) + (<usize>i << 2)));
  }
  @inline @operator("{}") uget(i: i32): T {
    return changetype<T>(load<usize>(changetype<usize>(this) + (<usize>i << 2)));
  }
  @inline @operator("[]=") set(i: i32, v: T): void {
    store<usize>(changetype<usize>(this) + (<usize>i << 2), changetype<usize>(v));
  }
  @inline @operator("{}=") uset(i: i32, v: T): void {
    store<usize>(changetype<usize>(this) + (<usize>i << 2), changetype<usize>(v));
  }
  @inline clear(n: i32): void {
    memory.fill(changetype<usize>(this), 0, <usize>n << 2);
  }
}

/** An array of n elements of `width` bytes, zeroed; null (0) when out of memory. */
@inline export function allocArray<A>(n: i32, width: usize): A {
  return changetype<A>(alloc(<usize>n * width));
}

@inline export function freeArray<A>(a: A, n: i32, width: usize): void {
  free(changetype<usize>(a), <usize>n * width);
}

/** Elements of a Vec's inline storage (when its `inl` is set). */
export const VEC_INLINE: i32 = 4;

/**
 * A list of record pointers: ptr, len, cap, inl (16 bytes, the layout a record
 * may embed). `inl`, when not 0, is storage for VEC_INLINE elements inside the
 * embedding record: the list starts there and moves out when it grows past
 * it. Growth doubles from 4; shrinking never happens except by `release`.
 */
@unmanaged export class Vec<T> {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;
  inl: usize = 0;

  @inline get length(): i32 { return this.len; }

  @inline @operator("[]") get(i: i32): T {
    return changetype<T>(load<usize>(this.ptr + (<usize>i << 2)));
  }
  @inline @operator("{}") uget(i: i32): T {
    return changetype<T>(load<usize>(this.ptr + (<usize>i << 2)));
  }
  @inline @operator("[]=") set(i: i32, v: T): void {
    store<usize>(this.ptr + (<usize>i << 2), changetype<usize>(v));
  }
  @inline @operator("{}=") uset(i: i32, v: T): void {
    store<usize>(this.ptr + (<usize>i << 2), changetype<usize>(v));
  }

  /** Room for n elements; false when memory cannot grow (nothing changed). */
  reserve(n: i32): bool {
    if (n <= this.cap) return true;
    let cap = this.cap < 4 ? 4 : this.cap;
    while (cap < n) cap <<= 1;
    const p = alloc(<usize>cap << 2);
    if (p == 0) return false;
    memory.copy(p, this.ptr, <usize>this.len << 2);
    if (this.ptr != this.inl) free(this.ptr, <usize>this.cap << 2);
    this.ptr = p;
    this.cap = cap;
    return true;
  }

  push(v: T): bool {
    if (!this.reserve(this.len + 1)) return false;
    store<usize>(this.ptr + (<usize>this.len << 2), changetype<usize>(v));
    this.len++;
    return true;
  }

  /** Insert at index 0 (IPVS links new dests at the list head). */
  unshift(v: T): bool {
    if (!this.reserve(this.len + 1)) return false;
    memory.copy(this.ptr + 4, this.ptr, <usize>this.len << 2);
    store<usize>(this.ptr, changetype<usize>(v));
    this.len++;
    return true;
  }

  pop(): T {
    this.len--;
    return changetype<T>(load<usize>(this.ptr + (<usize>this.len << 2)));
  }

  /** Remove index i, keeping the order of the rest. */
  removeAt(i: i32): void {
    const at = this.ptr + (<usize>i << 2);
    memory.copy(at, at + 4, <usize>(this.len - i - 1) << 2);
    this.len--;
  }

  indexOf(v: T): i32 {
    const want = changetype<usize>(v);
    for (let i = 0, n = this.len; i < n; i++) {
      if (load<usize>(this.ptr + (<usize>i << 2)) == want) return i;
    }
    return -1;
  }

  /** Free the element array (the header stays, empty, on its inline storage if any). */
  release(): void {
    if (this.ptr != this.inl) free(this.ptr, <usize>this.cap << 2);
    this.ptr = this.inl;
    this.len = 0;
    this.cap = this.inl != 0 ? VEC_INLINE : 0;
  }
}
