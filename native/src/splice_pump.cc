// The splice pump's thread (see splice_pump.h for the contract).
#include "splice_pump.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

namespace splicepump {

namespace {

/** Operations per connection per wake-up before others get their turn (fairness, not correctness). */
constexpr int BUDGET = 64;
constexpr unsigned SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
/** Copy mode's buffer per direction (only where splice(2) is refused). */
constexpr size_t COPY_BUF = 64 * 1024;

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void resetSocket(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void noDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/** Accepted connections taken per listener per wake-up (the listener is level-triggered: the rest come next turn). */
constexpr int ACCEPT_BATCH = 64;
// Clients a thread decided itself (DECIDED) that wake JS for their bookkeeping: its work comes in small
// batches rather than hundreds of events at the report period, which would hold the main thread (and
// the clients of its own pump) for milliseconds at a time.
constexpr size_t DECIDED_WAKE = 16;
/** A listener whose accept(2) failed for want of fds or memory rests this long (no spinning on EMFILE). */
constexpr int ACCEPT_REST_MS = 100;

}  // namespace

Pump::Pump(const Options& opt, void (*notify)(void*), void* ctx) : opt_(opt), notify_(notify), ctx_(ctx) {}

Pump::~Pump() { stop(); }

bool Pump::open() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) return false;
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) { int e = errno; close(ep_); ep_ = -1; errno = e; return false; }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &wakeSide_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, wakeFd_, &ev);
  nextReport_ = nowMs() + opt_.reportMs;
  running_ = true;
  return true;
}

bool Pump::start() {
  if (!open()) return false;
  thread_ = std::thread([this] {
    // ps -L / top -H tell it from Node's threads. prctl, not pthread_setname_np: that one is
    // GLIBC_2.34 when built on a newer glibc, and the prebuilt addon promises 2.32 (README).
    prctl(PR_SET_NAME, "wasmvs-pump", 0, 0, 0);
    run();
  });
  return true;
}

bool Pump::startInline() {
  if (!open()) return false;
  inline_ = true;
  return true;
}

bool Pump::turn() {
  if (!running_) return false;
  step(0);
  if (readyList_.empty()) return false;
  wake();  // the owner's poll sees the epoll set readable again: the rest next round, after its other work
  return true;
}

void Pump::wake() {
  uint64_t one = 1;
  ssize_t r = write(wakeFd_, &one, sizeof one);
  (void)r;  // EAGAIN: the counter is already non-zero, the thread wakes anyway
}

int Pump::add(uint32_t id, int clientFd, int serverFd, std::string pre[2], const bool eof[2]) {
  if (!running_) return ESHUTDOWN;
  int a = fcntl(clientFd, F_DUPFD_CLOEXEC, 3);
  if (a < 0) return errno;
  int b = fcntl(serverFd, F_DUPFD_CLOEXEC, 3);
  if (b < 0) { int e = errno; close(a); return e; }
  Conn* c = new Conn();
  c->id = id;
  c->fd[0] = a;
  c->fd[1] = b;
  for (int i = 0; i < 2; i++) {
    c->side[i] = Side{c, i};
    c->dir[i].pre.swap(pre[i]);
    c->dir[i].eof = eof[i];
    c->dir[i].copy = opt_.spliceAfter > 0;
    fcntl(c->fd[i], F_SETFL, fcntl(c->fd[i], F_GETFL) | O_NONBLOCK);
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    cmds_.push_back({Cmd::ADD, c, id});
    stats_.added++;
  }
  wake();
  return 0;
}

void Pump::abort(uint32_t id) {
  {
    std::lock_guard<std::mutex> g(mu_);
    cmds_.push_back({Cmd::ABORT, nullptr, id});
  }
  wake();
}

void Pump::post(Cmd&& c, bool wakeNow) {
  {
    std::lock_guard<std::mutex> g(mu_);
    cmds_.push_back(std::move(c));
    kickDue_ = !wakeNow;
  }
  if (wakeNow) wake();
}

void Pump::listen(uint32_t id, int fd) {
  Cmd c{Cmd::LISTEN, nullptr, id};
  c.fd = fd;
  post(std::move(c), true);
}

void Pump::unlisten(uint32_t id) { post(Cmd{Cmd::UNLISTEN, nullptr, id}, true); }

void Pump::connect(uint32_t id, const sockaddr_storage& sa, socklen_t len, std::string pre, int timeoutMs) {
  Cmd c{Cmd::CONNECT, nullptr, id};
  c.sa = sa;
  c.salen = len;
  c.pre.swap(pre);
  c.timeoutMs = timeoutMs;
  post(std::move(c), false);
}

void Pump::kick() {
  bool due;
  {
    std::lock_guard<std::mutex> g(mu_);
    due = kickDue_;
    kickDue_ = false;
  }
  if (due) wake();
}

void Pump::take(std::vector<Event>& out, std::vector<std::string>* addrs) {
  std::lock_guard<std::mutex> g(mu_);
  out.swap(events_);
  events_.clear();
  if (addrs != nullptr) {
    addrs->swap(addrs_);
    addrs_.clear();
  } else {
    addrs_.clear();
  }
  accepts_ = 0;
  decided_ = 0;
  notified_ = false;
}

size_t Pump::pending(bool* due) {
  std::lock_guard<std::mutex> g(mu_);
  *due = accepts_ > 0 || decided_ >= DECIDED_WAKE;
  return events_.size();
}

Stats Pump::stats() {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

void Pump::stop() {
  if (thread_.joinable()) {
    running_ = false;
    wake();
    thread_.join();
  } else if (inline_ && running_) {
    running_ = false;
    drain();
  }
  if (wakeFd_ >= 0) close(wakeFd_);
  if (ep_ >= 0) close(ep_);
  wakeFd_ = ep_ = -1;
}

void Pump::run() {
  while (running_) step(readyList_.empty() ? int(std::max<int64_t>(0, nextReport_ - nowMs())) : 0);
  drain();
}

void Pump::step(int timeout) {
  epoll_event evs[256];
  {
    int n = epoll_wait(ep_, evs, 256, timeout);
    for (int k = 0; k < n; k++) {
      Side* s = static_cast<Side*>(evs[k].data.ptr);
      if (s->listener != nullptr) { acceptFrom(s->listener); continue; }
      if (s->conn == nullptr) { commands(); continue; }
      Conn* c = s->conn;
      if (c->dead) continue;
      if (evs[k].events & (EPOLLRDHUP | EPOLLHUP)) c->hup[s->index] = true;
      if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->rd[s->index] = true;
      if (c->connecting) {
        if (s->index == 1) { connected(c, evs[k].events); continue; }
        // The client while the real server is being reached: only its failure matters now.
        if (evs[k].events & EPOLLERR) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c->fd[0], SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) fail(c, 0, err);
        }
        continue;
      }
      if (evs[k].events & EPOLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd[s->index], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) { fail(c, s->index, err); continue; }
      }
      service(c);
    }
    // Connections that used up their budget continue now (edge-triggered: no new event would come).
    std::vector<Conn*> again;
    again.swap(readyList_);
    for (Conn* c : again) {
      c->ready = false;
      if (!c->dead) service(c);
    }
    for (Conn* c : graveyard_) delete c;
    graveyard_.clear();
    bool period = false;
    if (nowMs() >= nextReport_) {
      report();
      timers();
      nextReport_ = nowMs() + opt_.reportMs;
      period = true;
    }
    bool call = false;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!local_.empty()) {
        events_.insert(events_.end(), local_.begin(), local_.end());
        for (std::string& a : localAddrs_) addrs_.push_back(std::move(a));
        accepts_ += localAccepts_;
        decided_ += localDecided_;
      }
      // Held (opt_.hold): events of decided connections (those decided here too) wait for a client to decide,
      // the period or holdMax.
      if (!events_.empty() && !notified_ &&
          (!opt_.hold || accepts_ > 0 || decided_ >= DECIDED_WAKE || period || events_.size() >= opt_.holdMax)) {
        call = true;
        notified_ = true;
      }
      stats_.conns = conns_.size();
      stats_.pipes = pipes_;
      stats_.pooled = pool_.size();
      stats_.spliced = spliced_;
      stats_.copied = copied_;
      stats_.closed = closed_;
      stats_.accepted = accepted_;
      stats_.acceptErrors = acceptErrors_;
      stats_.connectFailed = connectFailed_;
      stats_.undecided = undecided_;
      stats_.listeners = listeners_.size();
      stats_.decidedHere = decidedHere_;
      stats_.refusedHere = refusedHere_;
    }
    local_.clear();
    localAddrs_.clear();
    localAccepts_ = 0;
    localDecided_ = 0;
    if (call) notify_(ctx_);
  }
}

void Pump::drain() {
  commands();
  for (auto& [id, c] : conns_) {
    (void)id;
    for (int i = 0; i < 2; i++) {
      if (c->fd[i] < 0) continue;
      resetSocket(c->fd[i]);
      close(c->fd[i]);
    }
    for (Dir& d : c->dir) if (d.pipe[0] >= 0) { close(d.pipe[0]); close(d.pipe[1]); }
    delete c;
  }
  conns_.clear();
  for (auto& [id, l] : listeners_) { (void)id; close(l->fd); delete l; }
  listeners_.clear();
  for (auto& p : pool_) { close(p.first); close(p.second); }
  pool_.clear();
}

bool Pump::kickInline() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!kickDue_) return false;
    kickDue_ = false;
  }
  applyQueued();
  return true;
}

void Pump::commands() {
  uint64_t v;
  ssize_t r = read(wakeFd_, &v, sizeof v);
  (void)r;
  applyQueued();
}

void Pump::applyQueued() {
  // The queue and this thread's list trade places: both keep their capacity (no allocation per batch).
  {
    std::lock_guard<std::mutex> g(mu_);
    taken_.swap(cmds_);
  }
  apply(taken_);
  taken_.clear();
}

void Pump::apply(std::vector<Cmd>& cmds) {
  for (Cmd& cmd : cmds) {
    if (cmd.op == Cmd::LISTEN) {
      if (!running_ || listeners_.count(cmd.id)) { close(cmd.fd); continue; }
      Listener* l = new Listener{cmd.id, cmd.fd, Side{nullptr, 0, nullptr}};
      l->side.listener = l;
      epoll_event ev{};
      ev.events = EPOLLIN;  // level-triggered: a batch per turn, the rest next turn
      ev.data.ptr = &l->side;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, l->fd, &ev) < 0) { close(l->fd); delete l; continue; }
      listeners_[l->id] = l;
      if (full_) arm(l, false);
      continue;
    }
    if (cmd.op == Cmd::UNLISTEN) {
      auto it = listeners_.find(cmd.id);
      if (it == listeners_.end()) continue;
      epoll_ctl(ep_, EPOLL_CTL_DEL, it->second->fd, nullptr);
      close(it->second->fd);
      delete it->second;
      listeners_.erase(it);
      continue;
    }
    if (cmd.op == Cmd::CONNECT) {
      auto it = conns_.find(cmd.id);
      if (it != conns_.end() && it->second->undecided && !it->second->dead) connectTo(it->second, cmd);
      continue;
    }
    if (cmd.op == Cmd::ADD) {
      Conn* c = cmd.conn;
      if (!running_) { resetSocket(c->fd[0]); resetSocket(c->fd[1]); close(c->fd[0]); close(c->fd[1]); delete c; continue; }
      conns_[c->id] = c;
      for (int i = 0; i < 2; i++) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &c->side[i];
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd[i], &ev) < 0) { fail(c, i, errno); break; }
      }
      if (!c->dead) service(c);
    } else {
      auto it = conns_.find(cmd.id);
      if (it != conns_.end()) finish(it->second, true);
    }
  }
}

/** Moves what can move in both directions; ends the connection when both FINs went on. */
void Pump::service(Conn* c) {
  if (c->undecided || c->connecting) return;  // the engine's client waits, unread, for its real server
  int budget = BUDGET;
  bool more = false;
  for (int i = 0; i < 2; i++) {
    int r = pumpDir(c, i, budget);
    if (r < 0) { fail(c, errSide_, err_); return; }
    if (r > 0) more = true;
  }
  if (c->dir[0].shut && c->dir[1].shut) { finish(c, false); return; }
  if (more && !c->ready) { c->ready = true; readyList_.push_back(c); }
}

int Pump::sendPre(Conn* c, int i) {
  Dir& d = c->dir[i];
  int dst = c->fd[1 - i];
  while (d.preOff < d.pre.size()) {
    ssize_t n = send(dst, d.pre.data() + d.preOff, d.pre.size() - d.preOff, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) { d.preOff += size_t(n); copied_ += uint64_t(n); continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    errSide_ = 1 - i;
    err_ = n < 0 ? errno : EPIPE;
    return -1;
  }
  std::string().swap(d.pre);
  d.preOff = 0;
  return 1;
}

/**
 * One direction until its source is drained or its destination is full:
 * 0 waiting for an edge, 1 out of budget (more to do), -1 failed (errSide_, err_).
 * Copy mode reads into the thread's scratch buffer and sends at once; only
 * what the destination does not take stays with the direction (`buf`).
 */
int Pump::pumpDir(Conn* c, int i, int& budget) {
  Dir& d = c->dir[i];
  if (d.shut) return 0;
  if (!d.pre.empty()) {
    int r = sendPre(c, i);
    if (r <= 0) return r;
  }
  int src = c->fd[i], dst = c->fd[1 - i];
  for (;;) {
    if (budget-- <= 0) return 1;
    if (d.held > 0) {
      ssize_t n = d.copy ? send(dst, d.buf.data() + d.bufOff, d.held, MSG_NOSIGNAL | MSG_DONTWAIT)
                         : splice(d.pipe[0], nullptr, dst, nullptr, d.held, SPLICE_FLAGS);
      if (n > 0) {
        d.held -= size_t(n);
        d.bufOff += size_t(n);
        if (d.copy && d.held == 0) std::vector<char>().swap(d.buf);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return 0;
      errSide_ = 1 - i;
      err_ = n < 0 ? errno : EPIPE;
      return -1;
    }
    d.bufOff = 0;
    if (d.eof) {
      // Every byte before the FIN is out: pass the FIN on. The connection's
      // last FIN, to a socket the engine alone holds whose own EOF was read:
      // the close that follows at once sends it (nothing unread, so no RST).
      if (!(c->owned && c->dir[1 - i].shut)) shutdown(dst, SHUT_WR);
      d.shut = true;
      releasePipe(d);
      emit(c, i == 0 ? FIN_IN : FIN_OUT, uint32_t(i), 0);
      return 0;
    }
    if (!c->rd[i]) return 0;  // drained when last read: its next edge brings it back
    if (d.copy && !d.stuck && d.copiedBytes >= opt_.spliceAfter) d.copy = false;  // bulk: splice from now on
    if (!d.copy && d.pipe[0] < 0 && !pipeFor(d)) {
      d.copy = d.stuck = true;  // no pipe to be had (fd or pipe-page limits): copy this direction
    }
    ssize_t n;
    if (d.copy) {
      if (scratch_.empty()) scratch_.resize(COPY_BUF);
      n = recv(src, scratch_.data(), scratch_.size(), MSG_DONTWAIT);
      if (n > 0) {
        d.bytes += uint64_t(n);
        d.chunks++;
        d.copiedBytes += uint64_t(n);
        copied_ += uint64_t(n);
        ssize_t w;
        do w = send(dst, scratch_.data(), size_t(n), MSG_NOSIGNAL | MSG_DONTWAIT); while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
          errSide_ = 1 - i;
          err_ = errno;
          return -1;
        }
        if (w < 0) w = 0;
        if (w < n) {
          d.buf.assign(scratch_.data() + w, scratch_.data() + n);
          d.held = size_t(n - w);
          continue;
        }
        // A TCP read shorter than asked took all there was; what comes later raises a new edge
        // (edge-triggered). Read on to EOF only once the peer's FIN was signalled.
        if (size_t(n) < scratch_.size() && !c->hup[i]) { c->rd[i] = false; return 0; }
        continue;
      }
    } else {
      n = splice(src, nullptr, d.pipe[1], nullptr, size_t(opt_.pipeSize), SPLICE_FLAGS);
      if (n > 0) {
        d.held += size_t(n);
        d.bytes += uint64_t(n);
        d.chunks++;
        spliced_ += uint64_t(n);
        continue;
      }
    }
    if (n == 0) { d.eof = true; continue; }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      if (d.held > 0) continue;  // the pipe was full, not the socket empty
      c->rd[i] = false;
      releasePipe(d);
      return 0;
    }
    if (errno == EINVAL && !d.copy) {
      // splice(2) is refused for this socket (a sandboxed kernel): the same loop with recv/send.
      releasePipe(d);
      d.copy = d.stuck = true;
      continue;
    }
    errSide_ = i;
    err_ = errno;
    return -1;
  }
}

bool Pump::pipeFor(Dir& d) {
  if (!pool_.empty()) {
    d.pipe[0] = pool_.back().first;
    d.pipe[1] = pool_.back().second;
    pool_.pop_back();
    return true;
  }
  if (pipe2(d.pipe, O_NONBLOCK | O_CLOEXEC) < 0) { d.pipe[0] = d.pipe[1] = -1; return false; }
  fcntl(d.pipe[1], F_SETPIPE_SZ, opt_.pipeSize);  // refused past the per-user budget: the default size stays
  pipes_++;
  return true;
}

void Pump::releasePipe(Dir& d) {
  if (d.pipe[0] < 0 || d.held > 0) return;
  if (pool_.size() < opt_.pool) {
    pool_.emplace_back(d.pipe[0], d.pipe[1]);
  } else {
    close(d.pipe[0]);
    close(d.pipe[1]);
    pipes_--;
  }
  d.pipe[0] = d.pipe[1] = -1;
}

/** Socket `side` failed with `err`: the other one is reset, both closed. */
void Pump::fail(Conn* c, int side, int err) {
  if (c->dead) return;
  resetSocket(c->fd[1 - side]);
  emit(c, RESET, uint32_t(side), err);
  finish(c, false);
}

void Pump::finish(Conn* c, bool reset) {
  if (c->dead) return;
  c->dead = true;
  if (c->undecided) decided(c);  // a rejection, or the client went away while it waited
  c->connecting = false;
  for (int i = 0; i < 2; i++) {
    if (c->fd[i] < 0) continue;
    if (reset) resetSocket(c->fd[i]);
    if (!c->owned) epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd[i], nullptr);  // a handed-over fd may have a twin still open
    close(c->fd[i]);
    Dir& d = c->dir[i];
    if (d.pipe[0] >= 0) {
      // Bytes still in it are dropped with the connection; the pipe is not reused.
      close(d.pipe[0]);
      close(d.pipe[1]);
      pipes_--;
    }
  }
  emit(c, CLOSED, 0, 0);
  conns_.erase(c->id);
  closed_++;
  graveyard_.push_back(c);
}

void Pump::emit(Conn* c, Kind k, uint32_t side, int err) {
  Dir &in = c->dir[0], &out = c->dir[1];
  uint32_t kind = k;
  // A connection decided here: its table entry hears the change now, as IPVS's hears a packet's, so the
  // next decision on any pump sees it (ActiveConn/InActConn for lc, wlc, sed, nq and the thresholds).
  if (c->coreConn != 0 && opt_.connEvent != nullptr) {
    if (opt_.connEvent(opt_.decideCtx, c->coreConn, k)) kind |= APPLIED;
    if (k == CLOSED) c->coreConn = 0;
  }
  local_.push_back(Event{c->id, Kind(kind), side, err, in.bytes, in.chunks, out.bytes, out.chunks});
  in.bytes = in.chunks = out.bytes = out.chunks = 0;
}

void Pump::report() {
  for (auto& [id, c] : conns_) {
    (void)id;
    if (c->dir[0].chunks || c->dir[1].chunks) emit(c, COUNTS, 0, 0);
  }
}

}  // namespace splicepump

namespace splicepump {

uint32_t Pump::allocId() {
  // This thread's ids: idBase + k * idStep (never 0, never one in use).
  for (;;) {
    uint32_t id = opt_.idBase + nextId_ * opt_.idStep;
    nextId_ = (uint64_t(nextId_ + 1) * opt_.idStep + opt_.idBase > 0xffffffffull) ? 0 : nextId_ + 1;
    if (id != 0 && conns_.find(id) == conns_.end()) return id;
  }
}

void Pump::arm(Listener* l, bool on) {
  if (l->armed == on) return;
  epoll_event ev{};
  ev.events = on ? uint32_t(EPOLLIN) : 0u;
  ev.data.ptr = &l->side;
  epoll_ctl(ep_, EPOLL_CTL_MOD, l->fd, &ev);
  l->armed = on;
}

/** Accepts a batch; each client waits, unread, for JS's decision (ACCEPT event). */
void Pump::acceptFrom(Listener* l) {
  for (int k = 0; k < ACCEPT_BATCH; k++) {
    if (undecided_ >= opt_.maxUndecided) {
      // JS is behind: accept nothing more until it decided (the kernel's backlog holds the rest).
      full_ = true;
      for (auto& [id, o] : listeners_) { (void)id; arm(o, false); }
      return;
    }
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // EINVAL: the listener was shut down (ConnEngine::Unlisten); its unlisten command follows.
      if (errno == EAGAIN || errno == EINVAL) return;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener rests, the kernel keeps the clients queued.
      acceptErrors_++;
      l->retryAt = nowMs() + ACCEPT_REST_MS;
      arm(l, false);
      return;
    }
    // TCP_NODELAY comes from the listener (accepted sockets inherit it).
    char text[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      port = ntohs(a->sin6_port);
    }
    Conn* c = new Conn();
    c->id = allocId();
    c->fd[0] = fd;
    c->fd[1] = -1;
    c->undecided = true;
    c->owned = true;
    for (int i = 0; i < 2; i++) {
      c->side[i] = Side{c, i, nullptr};
      c->dir[i].copy = opt_.spliceAfter > 0;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &c->side[0];
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      resetSocket(fd);
      close(fd);
      delete c;
      acceptErrors_++;
      continue;
    }
    conns_[c->id] = c;
    undecided_++;
    accepted_++;
    Decision d;
    if (opt_.decide != nullptr && opt_.decide(opt_.decideCtx, l->id, ss, d)) {
      // Decided here: JS hears of it with the connection's other events, no wake-up of its own.
      decidedHere_++;
      localDecided_++;
      local_.push_back(Event{c->id, DECIDED, l->id, port, d.conn, d.dest, uint64_t(d.status < 0 ? -int64_t(d.status) : 0), d.word});
      localAddrs_.emplace_back(text);
      if (d.status == 0) {
        c->coreConn = d.conn;
        Cmd cmd(Cmd::CONNECT, c, c->id);
        cmd.sa = d.sa;
        cmd.salen = d.salen;
        cmd.timeoutMs = d.timeoutMs;
        connectTo(c, cmd);
      } else {
        // No real server: reset, as the JS path does with a client it cannot schedule.
        refusedHere_++;
        finish(c, true);
      }
      continue;
    }
    local_.push_back(Event{c->id, ACCEPT, l->id, port, 0, 0, 0, 0});
    localAddrs_.emplace_back(text);
    localAccepts_++;
  }
}

/** A client no longer waits for JS (connected or ended): below half the cap again, the listeners resume. */
void Pump::decided(Conn* c) {
  c->undecided = false;
  undecided_--;
  if (full_ && undecided_ < opt_.maxUndecided / 2 + 1) {
    full_ = false;
    int64_t now = nowMs();
    for (auto& [id, l] : listeners_) { (void)id; if (l->retryAt <= now) arm(l, true); }
  }
}

/** JS's decision: a non-blocking connect to the real server; the client is read once it answered. */
void Pump::connectTo(Conn* c, Cmd& cmd) {
  decided(c);
  c->dir[0].pre.swap(cmd.pre);
  int fd = socket(cmd.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { connFail(c, errno); return; }
  noDelay(fd);
  c->fd[1] = fd;
  c->rd[1] = false;  // nothing to read before its first edge (the connect's own event says EPOLLIN if a banner came)
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&cmd.sa), cmd.salen);
  if (r < 0 && errno != EINPROGRESS) { connFail(c, errno); return; }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c->side[1];
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) { connFail(c, errno); return; }
  c->connecting = true;
  deadlines_.emplace_back(nowMs() + std::max(1, cmd.timeoutMs), c->id);
  std::push_heap(deadlines_.begin(), deadlines_.end(), std::greater<>());
  // Even a connect that completed at once reports through its EPOLLOUT edge.
}

void Pump::connected(Conn* c, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    connFail(c, err != 0 ? err : ECONNREFUSED);
    return;
  }
  // A connecting TCP socket turns writable only once the handshake is done.
  if (!(events & EPOLLOUT)) return;
  c->connecting = false;
  emit(c, ESTABLISHED, 1, 0);
  service(c);
}

/** The real server did not accept: the client is reset, as a refused connection through IPVS would be. */
void Pump::connFail(Conn* c, int err) {
  c->connecting = false;
  connectFailed_++;
  resetSocket(c->fd[0]);
  emit(c, CONNFAIL, 1, err);
  finish(c, false);
}

/** Connect deadlines past, and listeners done resting (every report period). */
void Pump::timers() {
  int64_t now = nowMs();
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    uint32_t id = deadlines_.front().second;
    std::pop_heap(deadlines_.begin(), deadlines_.end(), std::greater<>());
    deadlines_.pop_back();
    auto it = conns_.find(id);
    if (it != conns_.end() && it->second->connecting && !it->second->dead) connFail(it->second, ETIMEDOUT);
  }
  if (!full_) {
    for (auto& [id, l] : listeners_) { (void)id; if (!l->armed && l->retryAt <= now) arm(l, true); }
  }
}

}  // namespace splicepump
