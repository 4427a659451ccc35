// The small program the daemon starts to make namespaces, run by perl
// (perl-base is Essential in Debian, so always installed). Deno cannot fork,
// and a threaded process cannot unshare(CLONE_NEWUSER) nor run code as the
// PID 1 it creates; this does it for us, off the daemon's event loop, with
// forks instead of execs. Pure: the script, its argv, its line protocol.

export const PERL = "/usr/bin/perl";
/** comm of the factory, of a prepared init not yet assigned, and of a user namespace helper. */
export const FACTORY_COMM = "spawn-pool";
export const POOL_INIT_COMM = "spawn-pool-pid";
export const USER_HELPER_COMM = "spawn-pool-usr";

const CLONE_PARENT = 0x00008000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;

/** unshare(2), setns(2), prctl(2) system call numbers (perl's syscall() takes numbers). */
type Syscalls = { unshare: number; setns: number; prctl: number; clone: number };
const SYSCALLS: Record<string, Syscalls> = {
  x86_64: { unshare: 272, setns: 308, prctl: 157, clone: 56 },
  aarch64: { unshare: 97, setns: 268, prctl: 167, clone: 220 },
};

function syscalls(): Syscalls {
  const numbers = SYSCALLS[Deno.build.arch];
  if (numbers === undefined) throw new Error(`no syscall numbers for ${Deno.build.arch}`);
  return numbers;
}

/**
 * The factory: one long-lived perl process (comm FACTORY_COMM) that forks
 * what the daemon asks for, one line per request on its stdin, one line per
 * answer on its stdout (short writes to a pipe are atomic). Forking a small
 * perl is far cheaper than starting a program, and none of it runs on the
 * daemon's event loop. SIGCHLD is ignored throughout: the kernel reaps
 * every orphan, and the disposition survives the exec of the inits.
 *
 * "p ID": a prepared init. The factory clones it straight into new PID and
 *   IPC namespaces as a child of the daemon (CLONE_PARENT): one process
 *   start per name, no intermediate process to fork and end.
 * "p ID PATH": the same in the IPC namespace at PATH (/proc/DAEMON/fd/N of
 *   a name that has one): a child joins it, unshares PID, forks the init
 *   (PID 1) and exits: the init is re-parented to the daemon (a child
 *   subreaper). The init makes two pipes and answers
 *   "p ID PID W A": its pid as the daemon sees it and its fd numbers of the
 *   write end of its command pipe and the read end of its ack pipe, which
 *   the daemon opens through /proc/PID/fd/N and confirms with "ok" (within 10
 *   s, or the init exits). The init then closes its copies, so end of file on its command pipe means the
 *   daemon is gone (or dismissed it): nothing made ahead outlives the
 *   daemon. Told three lines (the path of its init-NAME symlink, see
 *   init_links.ts, and the two marker variables of init_marker.ts), it sets
 *   its comm to the symlink's basename ($0 does prctl(PR_SET_NAME)), writes
 *   "." (it shows as init-NAME: the namespace may be handed out) and execs
 *   /usr/bin/sleep through the symlink with exactly the markers as its
 *   environment (as a restarted daemon expects, see orphaned_inits.ts). The
 *   ack pipe is close-on-exec: its end of file says the exec is done.
 * "u ID": a user namespace helper: a child that unshares a user namespace
 *   and answers "u ID PID"; the daemon writes the maps from outside and
 *   kills it. It dies with the factory (parent-death signal), and the
 *   factory with the daemon (end of file on its stdin).
 * Failures answer "e ID message".
 * A test seam: with $GATE set, each request waits until that file exists.
 */
const FACTORY_SCRIPT = `
my ($unshare, $setns, $prctl, $clone) = map { $_ + 0 } @ARGV; # numbers, not strings, for syscall
$SIG{CHLD} = "IGNORE";
# Ctrl-C or a hang-up reaches the whole process group (npm start in a
# terminal): the daemon decides when the factory ends, by end of file.
$SIG{INT} = $SIG{QUIT} = $SIG{HUP} = "IGNORE";
$0 = "${FACTORY_COMM}";
my $factory = $$;
my $gate = $ENV{GATE};
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($kind, $id, $path) = split(/ /, $line, 3);
  select(undef, undef, undef, 0.01) until !defined($gate) || -e $gate;
  if ($kind eq "p" && !(defined($path) && length($path))) {
    my $init = syscall($clone, ${CLONE_PARENT | CLONE_NEWPID | CLONE_NEWIPC} | 17, 0, 0, 0, 0);
    if ($init < 0) { syswrite(STDOUT, "e $id clone: $!\n"); next; }
    init($id) if $init == 0;
    next;
  }
  my $pid = fork;
  if (!defined $pid) { syswrite(STDOUT, "e $id fork: $!\n"); next; }
  next if $pid;
  open(STDIN, "<", "/dev/null");
  my $fail = sub { syswrite(STDOUT, "e $id $_[0]: $!\n"); exit 1; };
  if ($kind eq "u") {
    syscall($unshare, ${CLONE_NEWUSER}) == 0 or $fail->("unshare");
    # After the unshare, which clears it (new credentials).
    syscall($prctl, 1, 9) == 0 or $fail->("prctl"); # PR_SET_PDEATHSIG SIGKILL
    exit 0 if getppid() != $factory;
    $0 = "${USER_HELPER_COMM}";
    syswrite(STDOUT, "u $id " . readlink("/proc/self") . "\n");
    open(STDOUT, ">", "/dev/null");
    sleep 1000 while 1;
  }
  open(my $ipc, "<", $path) or $fail->("open $path");
  syscall($setns, fileno($ipc), ${CLONE_NEWIPC}) == 0 or $fail->("setns");
  close($ipc);
  syscall($unshare, ${CLONE_NEWPID}) == 0 or $fail->("unshare");
  my $init = fork;
  defined($init) or $fail->("fork");
  exit 0 if $init;
  init($id);
}

# PID 1 of its namespace, waiting for its NAME; never returns.
sub init {
  my ($id) = @_;
  my $fail = sub { syswrite(STDOUT, "e $id $_[0]: $!\n"); exit 1; };
  open(STDIN, "<", "/dev/null");
  $0 = "${POOL_INIT_COMM}";
  pipe(my $command, my $commandWrite) or $fail->("pipe");
  pipe(my $ackRead, my $ack) or $fail->("pipe");
  syswrite(STDOUT, "p $id " . readlink("/proc/self") . " " . fileno($commandWrite) . " " . fileno($ackRead) . "\n");
  open(STDOUT, ">", "/dev/null");
  # Unconfirmed (the daemon died meanwhile): give up. A handler, since PID 1
  # ignores signals it has none for.
  $SIG{ALRM} = sub { exit 0 };
  alarm 10;
  defined(my $ok = <$command>) or exit 0;
  alarm 0;
  $SIG{ALRM} = "DEFAULT";
  close($commandWrite);
  close($ackRead);
  defined(my $link = <$command>) or exit 0;
  defined(my $instance = <$command>) or exit 0;
  defined(my $name = <$command>) or exit 0;
  chomp($link, $instance, $name);
  $0 = substr($link, rindex($link, "/") + 1);
  syswrite($ack, ".");
  $SIG{INT} = $SIG{QUIT} = $SIG{HUP} = "DEFAULT"; # an init as env would leave them
  %ENV = ();
  for ($instance, $name) { my ($k, $v) = split(/=/, $_, 2); $ENV{$k} = $v; }
  exec { $link } $link, "infinity";
  exit 127;
}
`;

/** argv of the factory. */
export function factoryArgv(): string[] {
  const { unshare, setns, prctl, clone } = syscalls();
  return [PERL, "-e", FACTORY_SCRIPT, String(unshare), String(setns), String(prctl), String(clone)];
}

/** The lines a prepared init reads to become NAME's init (see FACTORY_SCRIPT). */
export function initAssignment(link: string, markers: string[]): string {
  const lines = [link, ...markers];
  if (lines.length !== 3 || lines.some((l) => l.includes("\n"))) {
    throw new Error(`cannot pass ${JSON.stringify(lines)} to an init`);
  }
  return lines.join("\n") + "\n";
}

export type FactoryAnswer =
  | { kind: "p"; id: number; pid: number; commandFd: number; ackFd: number }
  | { kind: "u"; id: number; pid: number }
  | { kind: "e"; id: number; message: string };

/** Parses one line of the factory's stdout; null if malformed. */
export function parseFactoryAnswer(line: string): FactoryAnswer | null {
  const parts = line.split(" ");
  const numbers = parts.slice(1).map(Number);
  const valid = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (parts[0] === "p" && parts.length === 5 && numbers.every(valid)) {
    const [id, pid, commandFd, ackFd] = numbers;
    return pid > 0 ? { kind: "p", id, pid, commandFd, ackFd } : null;
  }
  if (parts[0] === "u" && parts.length === 3 && numbers.every(valid) && numbers[1] > 0) {
    return { kind: "u", id: numbers[0], pid: numbers[1] };
  }
  if (parts[0] === "e" && parts.length >= 2 && valid(numbers[0])) {
    return { kind: "e", id: numbers[0], message: parts.slice(2).join(" ") };
  }
  return null;
}
