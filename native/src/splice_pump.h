// A thread that moves the bytes of proxied TCP connections between their two
// sockets inside the kernel: splice(2) socket → pipe → socket, both
// directions, on one epoll set (edge-triggered). The JS side only hands a
// connection over (two fds it no longer reads) and hears lifecycle events and
// byte counts back in batches; policy (IPVS states, accounting, timeouts)
// stays in TypeScript.
//
// Invariants:
// - The pump owns the fds it was given (duplicates): it alone closes them.
// - A direction's bytes leave in order: bytes handed over with the
//   connection (`pre`, read by JS before the handover, or a PROXY header)
//   first, then what the source socket delivers.
// - A FIN is passed on (shutdown(SHUT_WR) of the other socket) only after
//   every byte before it left; the connection ends when both directions did.
// - An error on either socket resets the other one (SO_LINGER 0) and ends
//   the connection: RSTs propagate as they do through the JS path.
// - Pipes hold data only while a destination is slow: a direction whose
//   source is drained gives its pipe back to a small pool, so idle
//   connections own no pipe (pipe pages are a per-user kernel budget).
#pragma once

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace splicepump {

/** Event kinds reported to JS; every event carries the byte counts since the last one. */
enum Kind : uint32_t {
  COUNTS = 0,    // periodic counts of a busy connection
  FIN_IN = 1,    // the client's FIN was passed on to the server
  FIN_OUT = 2,   // the server's FIN was passed on to the client
  RESET = 3,     // a socket failed (arg: 0 client, 1 server; errno in arg2); the other was reset
  CLOSED = 4,    // both sockets closed: the last event of a connection
  // The connection engine only:
  ACCEPT = 5,       // a client was accepted (side: listener id, err: client port; its address in the addrs list)
  ESTABLISHED = 6,  // the real server accepted
  CONNFAIL = 7,     // the real server did not (err: errno; ETIMEDOUT past the deadline); the client was reset
  // A client accepted and decided on this thread (Decider): side: listener id, err: client port, its address in
  // the addrs list as for ACCEPT; inBytes: the core's connection id, inChunks: the real server's id, outBytes:
  // 0, or minus the core's status when it gave no real server (the client was reset; CLOSED follows); outChunks:
  // the decision record's third word (method | daf << 8 | dport << 16).
  DECIDED = 8,
};
/**
 * Set in an event's kind when the pump has already given it to the core
 * (Options::connEvent): the connection was decided on the pump (DECIDED), so
 * its table entry hears its state changes as they happen, not at the next
 * delivery; JS keeps the rest of its bookkeeping.
 */
constexpr uint32_t APPLIED = 0x100;

/** What a Decider answers for one accepted client. */
struct Decision {
  /** 0: connect to `sa`; < 0: the core's status, no real server (the client is reset). */
  int status = 0;
  uint32_t conn = 0, dest = 0;
  /** The decision record's third word: method | daf << 8 | dport << 16 (JS reads its endpoint from it). */
  uint32_t word = 0;
  sockaddr_storage sa{};
  socklen_t salen = 0;
  int timeoutMs = 0;
};

/**
 * Decides a client on the pump's own thread (the engine's native core,
 * engine.cc): true with `d` filled, or false to leave the client to JS
 * (ACCEPT) as without a decider.
 */
using DecideFn = bool (*)(void* ctx, uint32_t listener, const sockaddr_storage& client, Decision& d);
/**
 * Gives the core connection `conn`'s event `k`, on the pump's thread: true when the core took it
 * (the event then carries APPLIED), false for a kind the core has no event for (COUNTS).
 */
using ConnEventFn = bool (*)(void* ctx, uint32_t conn, Kind k);

struct Event {
  uint32_t id;
  Kind kind;
  uint32_t side;
  int32_t err;
  uint64_t inBytes, inChunks, outBytes, outChunks;
};

struct Options {
  /** Bytes per pipe (F_SETPIPE_SZ; the kernel rounds up to pages, an unprivileged cap applies). */
  int pipeSize = 256 * 1024;
  /** Period of the COUNTS events of busy connections. */
  int reportMs = 250;
  /** Pipes kept for reuse. */
  size_t pool = 64;
  /** Bytes a direction moves by copy before it moves by splice(2) (0: splice from the start). */
  uint64_t spliceAfter = 0;
  /** Engine: ids this thread gives its accepted connections are idBase + k * idStep. */
  uint32_t idBase = 1, idStep = 1;
  /** Engine: accepted connections waiting for a decision before the listeners pause. */
  size_t maxUndecided = 4096;
  /**
   * Engine threads: events of decided connections (established, FINs, close,
   * counts) are published for `take` but `notify` is not called for them
   * until an ACCEPT comes (they go ahead of it), the report period passes, or
   * `holdMax` of them wait: one wake-up of the deciding thread per batch of
   * clients instead of one per round with any event.
   */
  bool hold = false;
  size_t holdMax = 256;
  /** Engine threads: decide accepted clients here first (null: every client goes to JS). */
  DecideFn decide = nullptr;
  void* decideCtx = nullptr;
  /** With `decide`: the state changes of the connections decided here go to the core at once (ctx: decideCtx). */
  ConnEventFn connEvent = nullptr;
};

/** `spliced`: bytes moved by splice(2); `copied`: through userspace (handed-over bytes, copy mode). */
struct Stats {
  uint64_t conns = 0, pipes = 0, pooled = 0, spliced = 0, copied = 0, added = 0, closed = 0;
  /** Engine: accepted, accept(2) failures (EMFILE…: the listener pauses), connects failed or timed out, undecided now. */
  uint64_t accepted = 0, acceptErrors = 0, connectFailed = 0, undecided = 0, listeners = 0;
  /** Engine threads: clients decided on the thread itself (Decider), and of those refused by the core. */
  uint64_t decidedHere = 0, refusedHere = 0;
};

struct Dir {
  int pipe[2] = {-1, -1};
  /** Bytes in the pipe (or in `buf`, copy mode). */
  size_t held = 0;
  /** Bytes to send before anything from the source. */
  std::string pre;
  size_t preOff = 0;
  /** The source said EOF; `shut`: the FIN went on. */
  bool eof = false, shut = false;
  /** Moving by recv/send through `buf`: splice(2) refused (EINVAL, `stuck`), or before `spliceAfter` bytes. */
  bool copy = false, stuck = false;
  /** Bytes this direction moved by copy (towards spliceAfter). */
  uint64_t copiedBytes = 0;
  std::vector<char> buf;
  size_t bufOff = 0;
  uint64_t bytes = 0, chunks = 0;
};

struct Conn;
struct Listener;
/** What an epoll event points at: one of the two sockets of a connection, a listener, or the wake-up fd (both null). */
struct Side {
  Conn* conn;
  int index;
  Listener* listener = nullptr;
};

struct Conn {
  uint32_t id;
  int fd[2];  // 0 client, 1 real server (-1 until the engine connects)
  Side side[2];
  Dir dir[2];  // 0: client → server ("in"), 1: server → client ("out")
  bool dead = false, ready = false;
  /** Engine: waiting for JS's decision; connecting to the real server. */
  bool undecided = false, connecting = false;
  /** Engine: the core's connection id when it was decided here (its events go to the core from here), else 0. */
  uint32_t coreConn = 0;
  /** Engine: its fds are the only ones on their sockets (close(2) alone takes them out of the epoll set). */
  bool owned = false;
  /** A side reported EPOLLRDHUP/EPOLLHUP: its source is read until EOF (else a short read means drained). */
  bool hup[2] = {false, false};
  /**
   * Side i may have bytes (or its EOF) to read: set by its EPOLLIN/RDHUP/HUP/ERR
   * edges, cleared when a read finds it drained (EAGAIN, or a short read before
   * its FIN). A direction whose source is drained is not read again until its
   * next edge: an event on the other socket (the reply, a write space) costs no
   * recv(2) that would only say EAGAIN. True until known (handed-over sockets).
   */
  bool rd[2] = {true, true};
};

/** Engine: one listening socket of this thread. */
struct Listener {
  uint32_t id;
  int fd;
  Side side;
  /** Not polled until this time (ms; accept(2) failed with EMFILE or the like). */
  int64_t retryAt = 0;
  bool armed = true;
};

class Pump {
 public:
  /** `notify` is called (from the pump thread) when events wait to be taken. */
  Pump(const Options& opt, void (*notify)(void*), void* ctx);
  ~Pump();
  /** Starts the thread; false with errno when epoll/eventfd cannot be had. */
  bool start();
  /**
   * Engine: the pump without a thread of its own. Its owner's event loop
   * polls `fd()` (readable when sockets or commands wait) and calls `turn()`
   * there, and at least every `reportMs` for the counts and deadlines;
   * `notify` is then called from inside `turn()`.
   */
  bool startInline();
  /** The epoll set (inline pumps: what the owner polls). */
  int fd() const { return ep_; }
  /** Inline pumps: one round without waiting; true when connections still have work (`fd()` is made readable again for it). */
  bool turn();
  /**
   * Takes over a connection: duplicates both fds (the caller closes its own),
   * with `pre[i]` to send first in direction i and `eof[i]` when the source
   * of direction i already said EOF. Returns 0 or an errno.
   */
  int add(uint32_t id, int clientFd, int serverFd, std::string pre[2], const bool eof[2]);
  /** Resets both sockets of a connection (unknown ids are ignored); CLOSED follows. */
  void abort(uint32_t id);
  /** Engine: polls listening socket `fd` (the pump owns it) as listener `id`. */
  void listen(uint32_t id, int fd);
  /** Engine: closes listener `id` (connections it accepted go on). */
  void unlisten(uint32_t id);
  /**
   * Engine: connect undecided connection `id` to `sa`, sending `pre` first;
   * CONNFAIL(ETIMEDOUT) when the real server has not answered in `timeoutMs`.
   * Queued: `kick()` wakes the thread (one wake-up per batch of decisions).
   */
  void connect(uint32_t id, const sockaddr_storage& sa, socklen_t len, std::string pre, int timeoutMs);
  /** Wakes the thread when commands wait. */
  void kick();
  /** Inline pumps, on their owner's thread: the queued commands (decisions) now, no wake-up; false when none waited. */
  bool kickInline();
  /** Takes the pending events (any thread); `addrs`: the client addresses of the ACCEPT events, in order. */
  void take(std::vector<Event>& out, std::vector<std::string>* addrs = nullptr);
  /**
   * The events waiting to be taken (any thread); `due`: whether JS is wanted now: an ACCEPT is among
   * them, or DECIDED_WAKE clients decided here (their bookkeeping in small batches).
   */
  size_t pending(bool* due);
  Stats stats();
  /** Stops the thread; open connections are reset. */
  void stop();

 private:
  struct Cmd {
    enum Op { ADD, ABORT, LISTEN, UNLISTEN, CONNECT };
    Cmd(Op o, Conn* c, uint32_t i) : op(o), conn(c), id(i) {}
    Op op;
    Conn* conn;
    uint32_t id;
    int fd = -1;
    int timeoutMs = 0;
    socklen_t salen = 0;
    sockaddr_storage sa{};
    std::string pre;
  };
  void run();
  /** One round of the loop: wait up to `timeoutMs` for events, serve them, hand the events over. */
  void step(int timeoutMs);
  /** After the loop: commands still queued, then every connection reset and every fd closed. */
  void drain();
  bool open();
  void commands();
  /** The queued commands, applied on this pump's thread. */
  void applyQueued();
  void apply(std::vector<Cmd>& cmds);
  void service(Conn* c);
  int pumpDir(Conn* c, int i, int& budget);
  int sendPre(Conn* c, int i);
  bool pipeFor(Dir& d);
  void releasePipe(Dir& d);
  void fail(Conn* c, int side, int err);
  void finish(Conn* c, bool reset);
  void emit(Conn* c, Kind k, uint32_t side, int err);
  void report();
  void wake();
  void post(Cmd&& c, bool wakeNow);
  void acceptFrom(Listener* l);
  void arm(Listener* l, bool on);
  void connectTo(Conn* c, Cmd& cmd);
  void decided(Conn* c);
  void connected(Conn* c, uint32_t events);
  void connFail(Conn* c, int err);
  void timers();
  uint32_t allocId();

  Options opt_;
  void (*notify_)(void*);
  void* ctx_;
  int ep_ = -1, wakeFd_ = -1;
  Side wakeSide_{nullptr, 0};
  std::thread thread_;
  std::atomic<bool> running_{false};
  bool inline_ = false;
  int64_t nextReport_ = 0;
  std::mutex mu_;  // guards cmds_, events_, notified_, stats_
  std::vector<Cmd> cmds_;
  std::vector<Cmd> taken_;  // pump thread only: the commands being applied
  std::vector<Event> events_;
  std::vector<Event> local_;  // built on the pump thread, moved to events_ once per loop
  std::vector<std::string> addrs_, localAddrs_;  // client addresses of ACCEPT events, in order
  bool notified_ = false, kickDue_ = false;
  /** ACCEPT events (clients JS must decide) among events_ / local_: they are what a held pump wakes JS for. */
  size_t accepts_ = 0, localAccepts_ = 0;
  /** DECIDED events among them: a held pump also wakes JS once DECIDED_WAKE of these wait (small batches). */
  size_t decided_ = 0, localDecided_ = 0;
  Stats stats_;
  // Pump thread only:
  std::unordered_map<uint32_t, Conn*> conns_;
  std::vector<Conn*> readyList_, graveyard_;
  std::vector<std::pair<int, int>> pool_;
  uint64_t pipes_ = 0, spliced_ = 0, copied_ = 0, closed_ = 0;
  uint64_t accepted_ = 0, acceptErrors_ = 0, connectFailed_ = 0, decidedHere_ = 0, refusedHere_ = 0;
  int errSide_ = 0, err_ = 0;
  // Engine, pump thread only:
  std::unordered_map<uint32_t, Listener*> listeners_;
  /** Connect deadlines: (ms, id), earliest first. */
  std::vector<std::pair<int64_t, uint32_t>> deadlines_;
  size_t undecided_ = 0;
  bool full_ = false;
  uint32_t nextId_ = 0;
  /** One receive buffer per thread for copy mode: a direction holds bytes only while its destination is full. */
  std::vector<char> scratch_;
};

}  // namespace splicepump
