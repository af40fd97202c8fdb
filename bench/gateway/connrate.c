// Short TCP connections for bench/gateway/connrate.sh: a server and a bounded
// load generator, both one thread on epoll.
//   connrate server ADDR PORT SECONDS
//     accepts, reads the request, writes a 5-byte reply and closes (the
//     server closes first, so TIME_WAIT is the server's and the client's
//     ports come free at once); exits after SECONDS.
//   connrate client ADDR PORT SECONDS MAXCONNS INFLIGHT [WARMUP]
//     keeps INFLIGHT connections open at a time: connect, send a 5-byte
//     request, read the reply to EOF, close; each connection bounded by 3 s.
//     Counts what completes after WARMUP seconds (default 1) for SECONDS, or
//     until MAXCONNS connections were started; prints one JSON line:
//     completed connections, connections/s, failures, timeouts and the
//     connect-to-reply latency percentiles (microseconds).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static struct sockaddr_in addr_of(const char *a, const char *p) {
  struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(atoi(p))};
  if (inet_pton(AF_INET, a, &s.sin_addr) != 1) {
    fprintf(stderr, "connrate: bad IPv4 address %s\n", a);
    exit(2);
  }
  return s;
}

static int server(struct sockaddr_in sa, double secs) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4096) < 0) {
    perror("connrate server: bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
  double end = now() + secs;
  long served = 0;
  while (now() < end) {
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == l) {
        for (int k = 0; k < 256; k++) {
          int c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      char buf[64];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r > 0 && write(fd, "pong\n", 5) == 5) served++;
      close(fd);
    }
  }
  fprintf(stderr, "connrate server: %ld served\n", served);
  return 0;
}

enum { IDLE, CONNECTING, WAITING };
enum { OK, FAILED, TIMEOUT };
struct conn { int fd, state; double t0; };

static int cmp(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static struct {
  int ep, open;
  struct conn *cs;
  float *lat;
  long started, counted, failed, timeouts, nlat, cap;
  double t_measure, t_end;
} G;

/* Opens slot i: a new socket, non-blocking connect. */
static void open_slot(struct sockaddr_in *sa, int i) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  double t = now();
  G.started++;
  if (fd < 0 || (connect(fd, (struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS)) {
    if (fd >= 0) close(fd);
    if (t >= G.t_measure && t < G.t_end) G.failed++;
    return;
  }
  G.cs[i] = (struct conn){.fd = fd, .state = CONNECTING, .t0 = t};
  G.open++;
  struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
  epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &e);
}

/* Closes slot i; counts it when it started and ended inside the measured window. */
static void finish(int i, int how) {
  double t = now();
  struct conn *c = &G.cs[i];
  epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = IDLE;
  G.open--;
  if (c->t0 < G.t_measure || t >= G.t_end) return;
  if (how == OK) {
    G.counted++;
    if (G.nlat < G.cap) G.lat[G.nlat++] = (float)((t - c->t0) * 1e6);
  } else if (how == TIMEOUT) G.timeouts++;
  else G.failed++;
}

static int client(struct sockaddr_in sa, double secs, long maxconns, int inflight, double warm) {
  if (inflight < 1 || inflight > 4096 || maxconns < 1 || secs <= 0 || warm < 0) {
    fprintf(stderr, "connrate client: INFLIGHT 1..4096, MAXCONNS >= 1, SECONDS > 0, WARMUP >= 0\n");
    return 2;
  }
  G.ep = epoll_create1(0);
  G.cs = calloc(inflight, sizeof *G.cs);
  G.cap = maxconns;
  G.lat = malloc(sizeof(float) * (size_t)maxconns);
  double t_start = now();
  G.t_measure = t_start + warm;
  G.t_end = G.t_measure + secs;
  struct epoll_event evs[512];
  double last_start = G.t_measure;
  for (;;) {
    double t = now();
    int stopping = t >= G.t_end || G.started >= maxconns;
    if (!stopping)
      for (int i = 0; i < inflight && G.started < maxconns; i++)
        if (G.cs[i].state == IDLE) open_slot(&sa, i);
    if (!stopping) last_start = now();
    if (stopping && G.open == 0) break;
    if (t >= G.t_end + 3.5) break; /* every connection is bounded by 3 s anyway */
    int n = epoll_wait(G.ep, evs, 512, 50);
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      struct conn *c = &G.cs[i];
      if (c->state == CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || write(c->fd, "ping\n", 5) != 5) {
          finish(i, FAILED);
          continue;
        }
        c->state = WAITING;
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &e);
      } else if (c->state == WAITING) {
        char buf[64];
        ssize_t r;
        while ((r = read(c->fd, buf, sizeof buf)) > 0) {}
        if (r == 0) finish(i, OK); /* the reply, then the server's FIN */
        else if (errno != EAGAIN) finish(i, FAILED);
      }
    }
    t = now();
    for (int i = 0; i < inflight; i++)
      if (G.cs[i].state != IDLE && t - G.cs[i].t0 > 3.0) finish(i, TIMEOUT);
  }
  /* Count-bounded runs end when the last connection was started. */
  double span = (G.started >= maxconns ? last_start : G.t_end) - G.t_measure;
  if (span > secs) span = secs;
  qsort(G.lat, G.nlat, sizeof *G.lat, cmp);
#define PCT(p) (G.nlat ? (long)G.lat[(long)((p) / 100.0 * (G.nlat - 1))] : -1)
  printf("{\"completed\":%ld,\"seconds\":%.3f,\"cps\":%.0f,\"failed\":%ld,\"timeouts\":%ld,\"started\":%ld,\"inflight\":%d,"
         "\"p50_us\":%ld,\"p90_us\":%ld,\"p99_us\":%ld,\"max_us\":%ld}\n",
         G.counted, span, span > 0 ? G.counted / span : 0, G.failed, G.timeouts, G.started, inflight,
         PCT(50), PCT(90), PCT(99), G.nlat ? (long)G.lat[G.nlat - 1] : -1);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && !strcmp(argv[1], "server")) return server(addr_of(argv[2], argv[3]), atof(argv[4]));
  if (argc >= 7 && !strcmp(argv[1], "client"))
    return client(addr_of(argv[2], argv[3]), atof(argv[4]), atol(argv[5]), atoi(argv[6]), argc > 7 ? atof(argv[7]) : 1.0);
  fprintf(stderr, "usage: connrate server ADDR PORT SECONDS | connrate client ADDR PORT SECONDS MAXCONNS INFLIGHT [WARMUP]\n");
  return 2;
}
