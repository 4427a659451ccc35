// The one declaration of every libc symbol the project calls. Callers use the
// typed wrappers in the sibling files, never these raw symbols directly.

const SYMBOLS = {
  // int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: { parameters: ["i32"], result: "pointer" },

  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count);
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t pread(int fd, void *buf, size_t count, off_t offset);
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // off_t lseek(int fd, off_t offset, int whence);
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  // int pipe2(int pipefd[2], int flags);
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  // int eventfd(unsigned int initval, int flags);
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // int fcntl(int fd, int cmd, ... /* int arg */);
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int memfd_create(const char *name, unsigned int flags);
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  // int dup3(int oldfd, int newfd, int flags);
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int fstat(int fd, struct stat *statbuf);
  fstat: { parameters: ["i32", "buffer"], result: "i32" },

  // int open(const char *pathname, int flags, mode_t mode);
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int openat(int dirfd, const char *pathname, int flags, mode_t mode);
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  // int mkdir(const char *pathname, mode_t mode);
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  // int rmdir(const char *pathname);
  rmdir: { parameters: ["buffer"], result: "i32" },
  // int remove(const char *pathname);
  remove: { parameters: ["buffer"], result: "i32" },
  // int rename(const char *oldpath, const char *newpath);
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  // int mkostemp(char *template, int flags);
  mkostemp: { parameters: ["buffer", "i32"], result: "i32" },
  // int unlinkat(int dirfd, const char *pathname, int flags);
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int statx(int dirfd, const char *pathname, int flags, unsigned int mask,
  //           struct statx *statxbuf);
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  // ssize_t fgetxattr(int fd, const char *name, void *value, size_t size);
  fgetxattr: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  // int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
  fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "i32"], result: "i32" },

  // int socket(int domain, int type, int protocol);
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int socketpair(int domain, int type, int protocol, int sv[2]);
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int listen(int sockfd, int backlog);
  listen: { parameters: ["i32", "i32"], result: "i32" },
  // int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  // int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int shutdown(int sockfd, int how);
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  // int setsockopt(int sockfd, int level, int optname, const void *optval,
  //                socklen_t optlen);
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen);
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags);
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags);
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },

  // int epoll_create1(int flags);
  epoll_create1: { parameters: ["i32"], result: "i32" },
  // int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // The same function, run on a Deno worker thread so that the JS thread is free
  // while it blocks. At most one may be in flight (see event_loop.ts).
  epoll_wait_blocking: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },

  // int inotify_init1(int flags);
  inotify_init1: { parameters: ["i32"], result: "i32" },
  // int inotify_add_watch(int fd, const char *pathname, uint32_t mask);
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int inotify_rm_watch(int fd, int wd);
  inotify_rm_watch: { parameters: ["i32", "i32"], result: "i32" },

  // reaper: byte-exact directory listing (names that are not UTF-8)
  // ssize_t getdents64(int fd, void *dirp, size_t count);
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },

  // int unshare(int flags);
  unshare: { parameters: ["i32"], result: "i32" },
  // int setns(int fd, int nstype);
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // int mount(const char *source, const char *target, const char *filesystemtype,
  //           unsigned long mountflags, const void *data);
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },

  // pid_t getpid(void);
  getpid: { parameters: [], result: "i32" },
  // int sched_yield(void);
  sched_yield: { parameters: [], result: "i32" },
  // uid_t getuid(void);
  getuid: { parameters: [], result: "u32" },
  // int kill(pid_t pid, int sig);
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact);
  sigaction: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int prctl(int option, unsigned long arg2, unsigned long arg3,
  //           unsigned long arg4, unsigned long arg5);
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  // int getrlimit(int resource, struct rlimit *rlim);
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // int setrlimit(int resource, const struct rlimit *rlim);
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // int posix_spawn(pid_t *pid, const char *path,
  //                 const posix_spawn_file_actions_t *file_actions,
  //                 const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int posix_spawn_file_actions_init(posix_spawn_file_actions_t *file_actions);
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *file_actions);
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *file_actions,
  //                                      int fildes, const char *path, int oflag, mode_t mode);
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  // int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *file_actions,
  //                                          const char *path);
  posix_spawn_file_actions_addchdir_np: { parameters: ["buffer", "buffer"], result: "i32" },
  // int posix_spawnattr_init(posix_spawnattr_t *attr);
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawnattr_destroy(posix_spawnattr_t *attr);
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  // int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  // int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *sigmask);
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  // int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *sigdefault);
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  // int waitid(idtype_t idtype, id_t id, siginfo_t *infop, int options);
  waitid: { parameters: ["i32", "u32", "buffer", "i32"], result: "i32" },
  // long syscall(long number, ...); used for pidfd_open(pid_t pid, unsigned int flags)
  syscall2: { name: "syscall", parameters: ["i64", "i64", "i64"], result: "i64" },
  // long syscall(long number, ...); used for
  // pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags),
  // sched_getattr(pid_t pid, struct sched_attr *attr, unsigned int size, unsigned int flags),
  // sched_setattr(pid_t pid, struct sched_attr *attr, unsigned int flags)
  syscall4: { name: "syscall", parameters: ["i64", "i64", "i64", "i64", "i64"], result: "i64" },

  // Accessory hardening (issue 14): namespace ownership, closing client fds
  // off the JS thread, the runtime directory's lock.
  // int ioctl(int fd, unsigned long request, ...); used without an argument
  ioctl: { parameters: ["i32", "u64"], result: "i32" },
  // The same close(2), run on a Deno worker thread: closing a file a client
  // sent may block (a lingering socket, a FUSE flush); the JS thread must not.
  close_blocking: { name: "close", parameters: ["i32"], result: "i32", nonblocking: true },
  // int flock(int fd, int operation);
  flock: { parameters: ["i32", "i32"], result: "i32" },
  // PostgreSQL client (reaper/pg/socket_options.ts): requirepeer's peer check.
  // int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // accessory namespace pool (accperf): the pipes of pre-made inits and helpers.
  // int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *file_actions,
  //                                      int fildes, int newfildes);
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // posix_spawn on a worker thread: the JS thread goes on while the child execs.
  posix_spawn_nonblocking: {
    name: "posix_spawn",
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // Memory (issue 12): give the C heap's free pages back after start-up.
  // int malloc_trim(size_t pad);
  malloc_trim: { parameters: ["usize"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export const libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
