/*
 * The floor under bench/accessory_bench.ts's issue 12 figures on this
 * machine: a minimal C server making the accessory's wakeups and system
 * calls, driven by the same client as the daemon (bench/paced_client.c), so
 * that a figure the daemon misses can be told apart from one the machine
 * (kernel, hypervisor, other load) does not allow.
 *
 *   wakeup_floor cached|fresh ADDRESS
 *
 * Listens on the abstract SEQPACKET address ADDRESS (without its "@"),
 * prints "ready" once it does, serves one connection until it ends, then
 * ends and reaps every helper it made and exits. Each datagram is answered
 * with 8 bytes and 2 fds:
 * - cached: epoll_wait, recvmsg, sendmsg with its own IPC and PID namespaces,
 *   as for an existing name;
 * - fresh: as for a new name from the daemon's pool: it writes a name to a
 *   waiting helper's pipe, sleeps in epoll_wait for the helper's one-byte
 *   ack (as the daemon does, rather than poll for it), opens the helper's
 *   /proc/PID/ns/{ipc,pid} and replies with them, then clones the next
 *   name's helper into new PID and IPC namespaces (the daemon's pool
 *   refill). A helper names itself (PR_SET_NAME), acks and lives on until
 *   the end, as a named init does. Needs root.
 *
 * Compiled with cc -O2 by the bench, which reads the server's CPU time from
 * /proc/PID/stat as it does the daemon's.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* Sends len bytes with 2 fds as one datagram. */
static void send_fds(int sock, const void *data, size_t len, const int fds[2]) {
  struct iovec iov = {(void *)data, len};
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  memcpy(CMSG_DATA(c), fds, 2 * sizeof(int));
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) die("sendmsg");
}

/* A helper: a blocking read of a name, PR_SET_NAME, one-byte ack. */
static int helper_in, helper_out;
static int helper_main(void *arg) {
  (void)arg;
  int in = helper_in, out = helper_out, low = in < out ? in : out, high = in < out ? out : in;
  /* Nothing of the server's but its own pipe ends, or old pipes never end. */
  close_range(3, low - 1, 0);
  close_range(low + 1, high - 1, 0);
  close_range(high + 1, ~0U, 0);
  char name[64];
  for (;;) {
    ssize_t n = read(in, name, sizeof name - 1);
    if (n <= 0) _exit(0);
    name[n] = 0;
    prctl(PR_SET_NAME, name);
    if (write(out, ".", 1) != 1) _exit(0);
  }
}

/*
 * A helper in new PID and IPC namespaces, reading `in` and acking on `out`.
 * It shares the server's memory (CLONE_VM, a stack of its own), so that the
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

/* The next name's helper: its pid, our write end of its name pipe, our read end of its ack pipe. */
struct helper {
  pid_t pid;
  int name, ack;
};

static struct helper next_helper(void) {
  int down[2], up[2];
  if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe2");
  struct helper h = {clone_helper(down[0], up[1]), down[1], up[0]};
  close(down[0]);
  close(up[1]);
  return h;
}

/* Names helper h (the pipe to it stays open: it lives on) and answers with its namespaces. */
static void serve_fresh(int sock, int ep, struct helper h, unsigned serial) {
  char name[32], path[64];
  int len = snprintf(name, sizeof name, "init-n%u", serial);
  if (write(h.name, name, len) != len) die("write");
  char ack;
  while (read(h.ack, &ack, 1) != 1) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = h.ack}, got;
    epoll_ctl(ep, EPOLL_CTL_ADD, h.ack, &ev);
    epoll_wait(ep, &got, 1, -1);
    epoll_ctl(ep, EPOLL_CTL_DEL, h.ack, NULL);
  }
  close(h.ack);
  int fds[2];
  snprintf(path, sizeof path, "/proc/%d/ns/ipc", h.pid);
  fds[0] = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%d/ns/pid", h.pid);
  fds[1] = open(path, O_RDONLY | O_CLOEXEC);
  if (fds[0] < 0 || fds[1] < 0) die("open ns");
  send_fds(sock, "reply...", 8, fds);
  close(fds[0]);
  close(fds[1]);
}

int main(int argc, char **argv) {
  int fresh = argc == 3 && strcmp(argv[1], "fresh") == 0;
  if (!fresh && !(argc == 3 && strcmp(argv[1], "cached") == 0)) {
    fprintf(stderr, "usage: %s cached|fresh ADDRESS\n", argv[0]);
    return 2;
  }
  /* "fresh" keeps a pipe to every helper until the end. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  size_t len = strlen(argv[2]);
  if (len + 1 > sizeof a.sun_path) return 2;
  memcpy(a.sun_path + 1, argv[2], len);
  if (bind(listener, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + len) < 0)
    die("bind");
  if (listen(listener, 1) < 0) die("listen");
  printf("ready\n");
  fflush(stdout);
  int sock = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (sock < 0) die("accept4");
  close(listener);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = sock};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0) die("epoll_ctl");
  int own[2] = {open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC),
                open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)};
  struct helper h = fresh ? next_helper() : (struct helper){-1, -1, -1};
  char buf[4096];
  for (unsigned serial = 0;; serial++) {
    struct epoll_event got;
    if (epoll_wait(ep, &got, 1, -1) < 0) die("epoll_wait");
    ssize_t n = recv(sock, buf, sizeof buf, 0);
    if (n < 0) die("recv");
    if (n == 0) break;
    if (!fresh) {
      send_fds(sock, "reply...", 8, own);
      continue;
    }
    serve_fresh(sock, ep, h, serial);
    h = next_helper(); /* the refill */
  }
  /* Ends every helper's pipe and reaps them, so that none outlives the run. */
  close_range(3, ~0U, 0);
  while (wait(NULL) > 0) {
  }
  return 0;
}
