// The small programs the daemon starts to make namespaces, run by perl
// (perl-base is Essential in Debian, so always installed). Deno cannot fork,
// and a threaded process cannot unshare(CLONE_NEWUSER) nor run code as the
// PID 1 it creates; these do it for us with one exec each, off the daemon's
// event loop. Pure: the scripts and their argument vectors.

export const PERL = "/usr/bin/perl";
/** comm of a prepared init not yet assigned, and of a user namespace helper. */
export const POOL_INIT_COMM = "spawn-pool-pid";
export const USER_HELPER_COMM = "spawn-pool-usr";

const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;

/** unshare(2) and setns(2) system call numbers (perl's syscall() takes numbers). */
const SYSCALLS: Record<string, { unshare: number; setns: number }> = {
  x86_64: { unshare: 272, setns: 308 },
  aarch64: { unshare: 97, setns: 268 },
};

function syscalls(): { unshare: number; setns: number } {
  const numbers = SYSCALLS[Deno.build.arch];
  if (numbers === undefined) throw new Error(`no syscall numbers for ${Deno.build.arch}`);
  return numbers;
}

/**
 * A PID namespace's init, made ahead of demand (protocol on its pipes):
 * - starts in the daemon's namespaces; joins the IPC namespace at fd 3 if
 *   asked (a name that has one already), else unshares a new one; unshares
 *   PID and forks: the child is PID 1 of the new namespace. The parent
 *   writes the child's pid (as the daemon sees it) and a newline to stdout
 *   and exits; the child is re-parented to the daemon (a child subreaper).
 * - SIGCHLD is ignored before the fork: the kernel reaps every orphan
 *   re-parented to the init, and the disposition survives the exec below.
 * - the init (comm POOL_INIT_COMM) waits for three lines on stdin: the path
 *   of its init-NAME symlink (see init_links.ts), then the two marker
 *   variables (init_marker.ts). End of file first (the daemon is gone, or
 *   dismissed it) ends it: nothing made ahead outlives the daemon.
 * - it sets its comm to the symlink's basename (perl's $0 does
 *   prctl(PR_SET_NAME)), writes "." (the namespace may be handed out now: it
 *   shows as init-NAME), and execs /usr/bin/sleep through the symlink with
 *   exactly the markers as environment (as a restarted daemon expects, see
 *   orphaned_inits.ts). The "." pipe is close-on-exec, so its end of file
 *   tells the daemon that the exec is done (or failed) and the symlink may go.
 */
const INIT_SCRIPT = `
my ($unshare, $setns, $flags, $join) = map { $_ + 0 } @ARGV; # numbers, not strings, for syscall
$SIG{CHLD} = "IGNORE";
if ($join) {
  syscall($setns, 3, ${CLONE_NEWIPC}) == 0 or die "setns: $!";
  open(my $fd3, "<&=", 3) and close($fd3);
}
syscall($unshare, $flags) == 0 or die "unshare: $!";
defined(my $pid = fork) or die "fork: $!";
if ($pid) { syswrite(STDOUT, "$pid\\n"); exit 0; }
$0 = "${POOL_INIT_COMM}";
open(my $ack, ">&", \\*STDOUT) or exit 1;
open(STDOUT, ">", "/dev/null");
defined(my $link = <STDIN>) or exit 0;
defined(my $instance = <STDIN>) or exit 0;
defined(my $name = <STDIN>) or exit 0;
chomp($link, $instance, $name);
$0 = substr($link, rindex($link, "/") + 1);
syswrite($ack, ".");
open(STDIN, "<", "/dev/null");
%ENV = ();
for ($instance, $name) { my ($k, $v) = split(/=/, $_, 2); $ENV{$k} = $v; }
exec { $link } $link, "infinity";
exit 127;
`;

/** argv of a prepared init; `joinIpc`: fd 3 is the IPC namespace to live in. */
export function initArgv(joinIpc: boolean): string[] {
  const { unshare, setns } = syscalls();
  const flags = CLONE_NEWPID | (joinIpc ? 0 : CLONE_NEWIPC);
  return [
    PERL,
    "-e",
    INIT_SCRIPT,
    String(unshare),
    String(setns),
    String(flags),
    joinIpc ? "1" : "",
  ];
}

/** The lines a prepared init reads to become NAME's init (see INIT_SCRIPT). */
export function initAssignment(link: string, markers: string[]): string {
  const lines = [link, ...markers];
  if (lines.length !== 3 || lines.some((l) => l.includes("\n"))) {
    throw new Error(`cannot pass ${JSON.stringify(lines)} to an init`);
  }
  return lines.join("\n") + "\n";
}

/**
 * A user namespace helper: unshares a user namespace, writes "u" to stdout
 * and waits for end of file on stdin, while the daemon opens
 * /proc/PID/ns/user and writes the maps from outside (where it is
 * privileged). The daemon's fd keeps the namespace once the helper is gone;
 * a dead daemon means end of file, so no helper outlives it.
 */
const USER_SCRIPT = `
$0 = "${USER_HELPER_COMM}";
syscall($ARGV[0] + 0, ${CLONE_NEWUSER}) == 0 or die "unshare: $!";
syswrite(STDOUT, "u");
1 while defined(sysread(STDIN, my $b, 64)) && length($b);
`;

export function userHelperArgv(): string[] {
  return [PERL, "-e", USER_SCRIPT, String(syscalls().unshare)];
}
