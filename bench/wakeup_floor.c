/*
 * The floor under bench/accessory_bench.ts's issue 12 figures on this
 * machine: the same wakeups as the accessory, done by a minimal C server, so
 * that a figure the daemon misses can be told apart from one the machine
 * (kernel, hypervisor, other load) does not allow.
 *
 *   wakeup_floor cached COUNT
 *     A client sends COUNT datagrams on one SEQPACKET socket pair, one at a
 *     time; the server (epoll_wait, recvmsg, sendmsg with 2 fds as
 *     SCM_RIGHTS) answers each. Prints the server's CPU (utime+stime) per
 *     request and the client's round-trip p50/p99, as for the daemon's
 *     "cached, one at a time".
 *   wakeup_floor new INTERVAL_MS COUNT
 *     As a new name: the client sends a request every INTERVAL_MS; the
 *     server writes a name to a waiting helper's pipe, polls 60 us for its
 *     one-byte ack (as the daemon does) and otherwise sleeps in epoll_wait
 *     for it, opens the helper's /proc/PID/ns/{ipc,pid} and replies with
 *     those 2 fds. The helper names itself (PR_SET_NAME) and acks. Prints
 *     p50/p90/p99/max of the client's round trips.
 *   wakeup_floor fresh INTERVAL_MS COUNT
 *     As "new", but each name gets a helper of its own, cloned into new PID
 *     and IPC namespaces after the previous reply (as the daemon's pool
 *     refills); the used ones live on until the end, as named inits do.
 *     Needs root.
 *
 * Output: one JSON object on stdout. Compiled with cc -O2 by the bench.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* Sends len bytes and nfds fds as one datagram. */
static void send_fds(int sock, const void *data, size_t len, const int *fds, int nfds) {
  struct iovec iov = {(void *)data, len};
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) die("sendmsg");
}

/* Receives one datagram; closes any fds it carried. Returns its length (0: end). */
static ssize_t receive(int sock, void *buf, size_t size) {
  struct iovec iov = {buf, size};
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) die("recvmsg");
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int fds[4];
    memcpy(fds, CMSG_DATA(c), count * sizeof(int));
    for (int i = 0; i < count; i++) close(fds[i]);
  }
  return n;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, int n, double q) {
  int i = (int)(q * n);
  return sorted[i >= n ? n - 1 : i];
}

/* The helper: a blocking read of a name, PR_SET_NAME, one-byte ack. */
static void helper(int in, int out) {
  char name[64];
  for (;;) {
    ssize_t n = read(in, name, sizeof name - 1);
    if (n <= 0) _exit(0);
    name[n] = 0;
    prctl(PR_SET_NAME, name);
    if (write(out, ".", 1) != 1) _exit(0);
  }
}

static int helper_in, helper_out;
static int helper_main(void *arg) {
  (void)arg;
  int in = helper_in, out = helper_out, low = in < out ? in : out, high = in < out ? out : in;
  /* Nothing of the server's but its own pipe ends, or old pipes never end. */
  close_range(3, low - 1, 0);
  close_range(low + 1, high - 1, 0);
  close_range(high + 1, ~0U, 0);
  helper(in, out);
  return 0;
}

/*
 * A helper in new PID and IPC namespaces, reading in and acking on out. It
 * shares the server's memory (CLONE_VM, a stack of its own), so that the
 * server pays no copy-on-write faults for it: the daemon has a small
 * separate program clone its inits for the same reason.
 */
static pid_t clone_helper(int in, int out) {
  enum { STACK = 64 << 10 };
  char *stack = malloc(STACK);
  if (!stack) die("malloc");
  helper_in = in;
  helper_out = out;
  pid_t pid = clone(helper_main, stack + STACK, CLONE_VM | CLONE_NEWPID | CLONE_NEWIPC | SIGCHLD, NULL);
  if (pid < 0) die("clone");
  return pid;
}

/* The server: epoll on the socket (and the helper's ack pipe in "new" mode). */
static void server(int sock, int to_helper, int from_helper, pid_t helper_pid, int fresh) {
  /* In "fresh" mode each helper has pipes of its own; they stay open to the end. */
  int helper_down = -1, helper_up = -1;
  if (fresh) {
    int d[2], u[2];
    if (pipe2(d, O_CLOEXEC) < 0 || pipe2(u, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe2");
    helper_pid = clone_helper(d[0], u[1]);
    to_helper = d[1];
    from_helper = u[0];
    helper_down = d[0];
    helper_up = u[1];
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = sock};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0) die("epoll_ctl");
  int cached[2] = {open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC),
                   open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)};
  char buf[256], path[64];
  unsigned serial = 0;
  for (;;) {
    struct epoll_event got[8];
    if (epoll_wait(ep, got, 8, -1) < 0) die("epoll_wait");
    ssize_t n = receive(sock, buf, sizeof buf);
    if (n == 0) break;
    if (to_helper < 0) {
      send_fds(sock, buf, 8, cached, 2);
      continue;
    }
    int len = snprintf(buf, sizeof buf, "init-n%u", serial++);
    if (write(to_helper, buf, len) != len) die("write");
    /* Poll 60 us for the ack, then sleep for it, as the daemon does. */
    double until = now_us() + 60;
    char ack;
    while (read(from_helper, &ack, 1) != 1) {
      if (now_us() < until) continue;
      struct epoll_event hev = {.events = EPOLLIN, .data.fd = from_helper};
      epoll_ctl(ep, EPOLL_CTL_ADD, from_helper, &hev);
      epoll_wait(ep, got, 8, -1);
      epoll_ctl(ep, EPOLL_CTL_DEL, from_helper, NULL);
    }
    int fds[2];
    snprintf(path, sizeof path, "/proc/%d/ns/ipc", helper_pid);
    fds[0] = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/ns/pid", helper_pid);
    fds[1] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[0] < 0 || fds[1] < 0) die("open ns");
    send_fds(sock, buf, 8, fds, 2);
    close(fds[0]);
    close(fds[1]);
    if (fresh) {
      /* Refill: the next name's helper (the old one's pipe ends stay open). */
      int d[2], u[2];
      if (pipe2(d, O_CLOEXEC) < 0 || pipe2(u, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe2");
      helper_pid = clone_helper(d[0], u[1]);
      to_helper = d[1];
      close(from_helper);
      from_helper = u[0];
      close(helper_down);
      close(helper_up);
      helper_down = d[0];
      helper_up = u[1];
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
                  ru.ru_stime.tv_usec;
  double sys_us = ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
  if (write(sock, &cpu_us, sizeof cpu_us) < 0 || write(sock, &sys_us, sizeof sys_us) < 0) _exit(1);
  /* Ends every helper's pipe and reaps them, so that none outlives the run. */
  close_range(3, ~0U, 0);
  while (wait(NULL) > 0) {
  }
  _exit(0);
}

int main(int argc, char **argv) {
  int fresh = argc == 4 && strcmp(argv[1], "fresh") == 0;
  int is_new = fresh || (argc == 4 && strcmp(argv[1], "new") == 0);
  if (!is_new && !(argc == 3 && strcmp(argv[1], "cached") == 0)) {
    fprintf(stderr, "usage: %s cached COUNT | %s new|fresh INTERVAL_MS COUNT\n", argv[0], argv[0]);
    return 2;
  }
  double interval_us = is_new ? atof(argv[2]) * 1000 : 0;
  int count = atoi(argv[is_new ? 3 : 2]);
  if (count < 1) return 2;
  /* "fresh" keeps a pipe to every helper until the end. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) die("socketpair");
  int down[2] = {-1, -1}, up[2] = {-1, -1};
  pid_t helper_pid = -1;
  if (is_new && !fresh) {
    if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe2");
    helper_pid = fork();
    if (helper_pid == 0) {
      close(up[0]);
      close(down[1]);
      helper(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
  }
  pid_t server_pid = fork();
  if (server_pid == 0) {
    close(pair[0]);
    server(pair[1], down[1], up[0], helper_pid, fresh);
  }
  close(pair[1]);
  if (is_new && !fresh) {
    close(down[1]);
    close(up[0]);
  }
  double *rtt = calloc(count, sizeof *rtt);
  char request[16] = "request", reply[256];
  double next = now_us();
  for (int i = 0; i < count; i++) {
    if (interval_us > 0) {
      next += interval_us;
      double wait = next - now_us();
      if (wait > 0) {
        struct timespec ts = {(time_t)(wait / 1e6), (long)((wait - (time_t)(wait / 1e6) * 1e6) * 1e3)};
        nanosleep(&ts, NULL);
      }
    }
    double t0 = now_us();
    send_fds(pair[0], request, sizeof request, NULL, 0);
    if (receive(pair[0], reply, sizeof reply) <= 0) die("no reply");
    rtt[i] = (now_us() - t0) / 1000;
  }
  shutdown(pair[0], SHUT_WR);
  double cpu_us = 0, sys_us = 0;
  if (read(pair[0], &cpu_us, sizeof cpu_us) != sizeof cpu_us ||
      read(pair[0], &sys_us, sizeof sys_us) != sizeof sys_us)
    die("server CPU");
  waitpid(server_pid, NULL, 0);
  if (helper_pid > 0) waitpid(helper_pid, NULL, 0);
  qsort(rtt, count, sizeof *rtt, compare);
  printf("{\"mode\":\"%s\",\"count\":%d,\"interval_ms\":%g,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
         "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"server_cpu_us_per_request\":%.1f,"
         "\"server_sys_us_per_request\":%.1f}\n",
         argv[1], count, interval_us / 1000, quantile(rtt, count, 0.5),
         quantile(rtt, count, 0.9), quantile(rtt, count, 0.99), rtt[count - 1], cpu_us / count,
         sys_us / count);
  return 0;
}
