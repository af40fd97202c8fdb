// Latency at a fixed offered rate for bench/proxy/workers.sh: "the same load"
// for every proxy. wrk keeps N connections busy (a closed loop), so a proxy
// that is slower also gets less load, and its latency mostly restates its
// rate. Here connections start on a fixed schedule (RATE per second, one
// every 1/RATE s) whatever the proxy does, and each one's latency runs from
// its scheduled start (not from when it got going: no coordinated omission)
// to the end of the reply.
//   openloop ADDR PORT RATE SECONDS [WARMUP]
// Each connection: connect, send one HTTP/1.1 request with Connection: close,
// read to EOF, close; bounded by 3 s (then counted as a timeout). At most
// 4,096 in flight: a start past that is counted as missed, not delayed.
// Counts what was scheduled after WARMUP seconds (default 1) for SECONDS;
// prints one JSON line: rate offered, completed, failures, timeouts, missed
// and the latency percentiles in microseconds.
// Between starts it sleeps on a timerfd set to the next start (1 µs timer
// slack): it must not spin, since it shares the machine's CPUs with the
// proxies it measures (a busy-polling generator takes a whole vCPU from them).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAXFLIGHT 4096
#define CONN_TIMEOUT 3.0

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct conn {
  int fd;
  int sent;
  int counted;
  double due;
};

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: openloop ADDR PORT RATE SECONDS [WARMUP]\n");
    return 2;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
    fprintf(stderr, "openloop: bad IPv4 address %s\n", argv[1]);
    return 2;
  }
  double rate = atof(argv[3]), secs = atof(argv[4]), warm = argc > 5 ? atof(argv[5]) : 1;
  if (rate <= 0 || rate > 1e6 || secs <= 0 || secs > 600 || warm < 0 || warm > 60) {
    fprintf(stderr, "openloop: RATE 1..1e6, SECONDS 0..600, WARMUP 0..60\n");
    return 2;
  }
  static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
  size_t cap = (size_t)(rate * secs) + 16;
  double *lat = malloc(cap * sizeof *lat);
  struct conn *pool = calloc(MAXFLIGHT, sizeof *pool);
  int *freelist = malloc(MAXFLIGHT * sizeof *freelist);
  if (!lat || !pool || !freelist) return 2;
  int nfree = MAXFLIGHT;
  for (int i = 0; i < MAXFLIGHT; i++) freelist[i] = MAXFLIGHT - 1 - i;
  int ep = epoll_create1(0);
  // The next start: a timer in the epoll set (epoll_wait's timeout is in whole ms).
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (ep < 0 || tfd < 0) { perror("openloop: epoll/timerfd"); return 2; }
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
  long done = 0, failed = 0, timeouts = 0, missed = 0, inflight = 0;
  double t0 = now(), measureFrom = t0 + warm, end = measureFrom + secs;
  long k = 0;  // connections scheduled so far
  char buf[4096];
  struct epoll_event evs[256];
  double lastSweep = t0;
  for (;;) {
    double t = now();
    // Start every connection whose time has come.
    while (t0 + k / rate <= t && t0 + k / rate < end) {
      double due = t0 + k / rate;
      int counted = due >= measureFrom;
      k++;
      if (nfree == 0) { if (counted) missed++; continue; }
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (fd < 0) { if (counted) failed++; continue; }
      int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
      if (r < 0 && errno != EINPROGRESS) { close(fd); if (counted) failed++; continue; }
      int i = freelist[--nfree];
      pool[i] = (struct conn){fd, 0, counted, due};
      struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      inflight++;
    }
    if (t >= end && inflight == 0) break;
    if (t >= end + CONN_TIMEOUT + 1) break;
    double next = t0 + k / rate;
    int wait = 50;
    if (t < end) {
      struct itimerspec its = {{0, 0}, {(time_t)next, (long)((next - (time_t)next) * 1e9)}};
      if (its.it_value.tv_nsec >= 1000000000L) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000L; }
      if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    int n = epoll_wait(ep, evs, 256, wait);
    for (int e = 0; e < n; e++) {
      if (evs[e].data.u32 == UINT32_MAX) {
        uint64_t ticks;
        ssize_t r = read(tfd, &ticks, sizeof ticks);
        (void)r;
        continue;
      }
      int i = (int)evs[e].data.u32;
      struct conn *c = &pool[i];
      int finished = 0, bad = 0;
      if (evs[e].events & EPOLLERR) bad = 1;
      if (!bad && !c->sent && (evs[e].events & EPOLLOUT)) {
        if (send(c->fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) bad = 1;
        else {
          c->sent = 1;
          struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (!bad && c->sent && (evs[e].events & (EPOLLIN | EPOLLHUP))) {
        for (;;) {
          ssize_t r = recv(c->fd, buf, sizeof buf, 0);
          if (r > 0) continue;
          if (r == 0) finished = 1;
          else if (errno != EAGAIN) bad = 1;
          break;
        }
      }
      if (finished || bad) {
        if (c->counted) {
          if (finished) lat[done++] = (now() - c->due) * 1e6;
          else failed++;
        }
        close(c->fd);
        c->fd = -1;
        freelist[nfree++] = i;
        inflight--;
      }
    }
    // Connections past their bound: timeouts.
    t = now();
    if (t - lastSweep > 0.1) {
      lastSweep = t;
      for (int i = 0; i < MAXFLIGHT; i++) {
        struct conn *c = &pool[i];
        if (c->fd < 0 || c->due == 0 || t - c->due < CONN_TIMEOUT) continue;
        if (c->counted) timeouts++;
        close(c->fd);
        c->fd = -1;
        c->due = 0;
        freelist[nfree++] = i;
        inflight--;
      }
    }
  }
  qsort(lat, done, sizeof *lat, cmp);
#define P(q) (done ? lat[(long)((q) * (done - 1))] : 0)
  printf("{\"rate\":%.0f,\"seconds\":%.1f,\"completed\":%ld,\"failed\":%ld,\"timeouts\":%ld,\"missed\":%ld,"
         "\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f}\n",
         rate, secs, done, failed, timeouts, missed, P(0.5), P(0.9), P(0.99), P(0.999), done ? lat[done - 1] : 0);
  return 0;
}
