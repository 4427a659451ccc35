/*
 * A load generator for bench/accessory_bench.ts that adds as little of its
 * own latency as possible (a Deno client adds 0.05-0.1 ms per request on the
 * 2-core machine): sends precomputed request datagrams to the accessory on
 * one SEQPACKET connection, one at a time, every INTERVAL ms (0: back to
 * back), and prints each round trip in milliseconds, one per line.
 *
 *   paced_client ADDRESS REQUESTS_FILE INTERVAL_MS COUNT FDS
 *
 * ADDRESS is an abstract address without its "@". REQUESTS_FILE holds the
 * datagrams, each prefixed with its length (16 bits, little endian). A reply
 * without exactly FDS fds ends the run with status 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s ADDRESS REQUESTS_FILE INTERVAL_MS COUNT FDS\n", argv[0]);
    return 2;
  }
  const char *name = argv[1];
  double interval = atof(argv[3]);
  int count = atoi(argv[4]), want_fds = atoi(argv[5]);
  static unsigned char requests[16 << 20];
  int in = open(argv[2], O_RDONLY);
  ssize_t total = in < 0 ? -1 : read(in, requests, sizeof requests);
  if (total <= 0) {
    perror(argv[2]);
    return 1;
  }
  close(in);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  if (len + 1 > sizeof a.sun_path) return 2;
  memcpy(a.sun_path + 1, name, len);
  if (connect(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + len) < 0) {
    perror("connect");
    return 1;
  }
  double start = now_ms();
  size_t offset = 0;
  for (int i = 0; i < count; i++) {
    if (interval > 0) {
      double due = start + i * interval;
      double wait = due - now_ms();
      if (wait > 1.5) {
        struct timespec ts = {0, (long)((wait - 1) * 1e6)};
        nanosleep(&ts, NULL);
      }
      while (now_ms() < due) {
      } /* the last millisecond precisely */
    }
    if (offset + 2 > (size_t)total) offset = 0;
    size_t size = requests[offset] | requests[offset + 1] << 8;
    unsigned char *request = requests + offset + 2;
    offset += 2 + size;
    double t0 = now_ms();
    if (send(s, request, size, MSG_NOSIGNAL) != (ssize_t)size) {
      perror("send");
      return 1;
    }
    char buf[4096];
    char control[CMSG_SPACE(16 * sizeof(int))];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                       .msg_controllen = sizeof control};
    ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    double t1 = now_ms();
    if (n <= 0) {
      perror("recvmsg");
      return 1;
    }
    int fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *f = (int *)CMSG_DATA(c);
      for (int j = 0; j < k; j++) close(f[j]);
      fds += k;
    }
    if (fds != want_fds) {
      fprintf(stderr, "reply %d: %d fds, expected %d\n", i, fds, want_fds);
      return 1;
    }
    printf("%.4f\n", t1 - t0);
  }
  return 0;
}
