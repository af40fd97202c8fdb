// Paced UDP latency probe for the gateway benchmark: sends 64-byte datagrams
// carrying their send time to 127.0.0.1:<port> at <rate> packets/s for
// <seconds> (after 1 s of warm-up that is not counted) and receives them on
// the same port in the same thread; prints one JSON line with the one-way
// latency percentiles (µs) and the loss. Both ends share CLOCK_MONOTONIC.
//   udp_lat <port> <rate> <seconds>
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static int cmp(const void *a, const void *b) { uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: udp_lat port rate seconds\n"); return 2; }
  int port = atoi(argv[1]); double rate = atof(argv[2]), secs = atof(argv[3]);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int big = 8 << 20; setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  if (bind(rx, (void *)&a, sizeof a) || connect(tx, (void *)&a, sizeof a)) { perror("socket"); return 1; }
  size_t cap = (size_t)(rate * (secs + 2)) + 16, n = 0;
  uint32_t *lat = malloc(cap * sizeof *lat);
  uint64_t t0 = now_ns(), warm = t0 + 1000000000ull, end = warm + (uint64_t)(secs * 1e9), drain = end + 500000000ull;
  double gap = 1e9 / rate; uint64_t sent = 0, counted_sent = 0;
  char buf[64];
  for (;;) {
    uint64_t t = now_ns();
    if (t >= drain) break;
    if (t < end && t >= t0 + (uint64_t)(sent * gap)) {
      uint64_t ts = now_ns(); memset(buf, 0, sizeof buf); memcpy(buf, &ts, sizeof ts);
      if (send(tx, buf, sizeof buf, 0) == sizeof buf) { sent++; if (ts >= warm) counted_sent++; }
    }
    char in[128];
    for (int k = 0; k < 64; k++) {
      ssize_t r = recv(rx, in, sizeof in, 0);
      if (r < 8) break;
      uint64_t ts; memcpy(&ts, in, sizeof ts);
      if (ts >= warm && ts < end && n < cap) lat[n++] = (uint32_t)((now_ns() - ts) / 1000);
    }
  }
  qsort(lat, n, sizeof *lat, cmp);
  #define P(q) (n ? lat[(size_t)((q) * (n - 1))] : 0)
  printf("{\"rate\":%.0f,\"sent\":%llu,\"received\":%zu,\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u}\n",
         rate, (unsigned long long)counted_sent, n, P(0.50), P(0.90), P(0.99), P(0.999));
  return 0;
}
