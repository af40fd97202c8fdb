// A view of numbers at a fixed address (a static table, or an array from the
// allocator): no header, no bounds, no allocation. Its own file so the page
// allocator below vec.ts can use it too.

/** A view of numbers of type T at its own address. */
@unmanaged export class Nums<T> {
  @inline @operator("[]") get(i: i32): T {
    return load<T>(changetype<usize>(this) + (<usize>i << alignof<T>()));
  }
  @inline @operator("{}") uget(i: i32): T {
    return load<T>(changetype<usize>(this) + (<usize>i << alignof<T>()));
  }
  @inline @operator("[]=") set(i: i32, v: T): void {
    store<T>(changetype<usize>(this) + (<usize>i << alignof<T>()), v);
  }
  @inline @operator("{}=") uset(i: i32, v: T): void {
    store<T>(changetype<usize>(this) + (<usize>i << alignof<T>()), v);
  }
}
