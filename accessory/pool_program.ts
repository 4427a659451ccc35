// The pool program: a tiny static executable the daemon loads from a sealed
// memfd and starts once. It makes the daemon's prepared inits and user
// namespace helpers by cloning itself, which costs a fraction of forking
// perl and executing sleep (a page of code and a small stack to copy, no
// dynamic loader): one process start per name and no exec at all. Its
// source is pool_program_x86_64.s; other architectures use the perl factory
// (helper_programs.ts). Pure: the image and the protocol.
//
// Protocol, on a SOCK_SEQPACKET socket pair (the program's fd 0), one
// request at a time, answered in order with a 4-byte little-endian pid (or
// -errno):
// - "p" with SCM_RIGHTS [command pipe read end, ack pipe write end] and
//   optionally an IPC namespace fd: clones an init as the daemon's child
//   (CLONE_PARENT) in a new PID namespace and a new IPC namespace (or the one
//   given, through setns). The init puts the pipe ends on its fds 0 and 1,
//   calls itself POOL_INIT_COMM and waits for one write: 16 bytes comm
//   (NUL-terminated), then NAME. It sets its comm, writes NAME into the value
//   of its NAME marker variable (initEnvironment(): the value is a
//   placeholder of filler bytes, zero-filled behind NAME), writes "." on fd
//   1, closes both and pauses forever as PID 1: SIGCHLD is ignored (the
//   kernel reaps orphans), other signals from inside its namespace do not
//   reach it, the daemon ends it with SIGKILL. End of file on its command
//   pipe before a NAME (the daemon died or dismissed it) ends it.
// - "u": clones a user namespace helper (comm USER_HELPER_COMM) as the
//   program's own child: it waits for SIGKILL, and dies with the program
//   (PR_SET_PDEATHSIG).
// The program itself (comm FACTORY_COMM) ignores SIGCHLD, SIGINT, SIGQUIT,
// SIGHUP and SIGTERM (a signal to the whole group must not end it under the
// daemon), and exits on end of file: when the daemon is gone.
import { FACTORY_COMM, POOL_INIT_COMM, USER_HELPER_COMM } from "./helper_programs.ts";
import { INSTANCE_VARIABLE, NAME_FILLER, NAME_VARIABLE } from "./init_marker.ts";

export { FACTORY_COMM, NAME_FILLER, POOL_INIT_COMM, USER_HELPER_COMM };

/** The memfd's name: /proc/PID/exe of the program and its inits reads "/memfd:NAME (deleted)". */
export const POOL_PROGRAM_NAME = "cm4all-spawn-pool";
export const POOL_PROGRAM_EXE = `/memfd:${POOL_PROGRAM_NAME} (deleted)`;

/** The longest NAME the program takes (its read buffer: 4112 bytes with the comm). */
export const MAX_POOL_NAME = 4096;

/** pool_program_x86_64.s assembled (llvm-mc or GNU as, then objcopy -O binary). */
const X86_64_CODE =
  "488b04244c8b7cc4184983c712bf03000000beffffffff31d2b8b40100000f05b8270000000f054889c54881ec002000" +
  "0048c74424080000000048c74424100000000048c744241800000000be01000000bf11000000e81a030000bf02000000" +
  "e810030000bf03000000e806030000bf01000000e8fc020000bf0f000000e8f2020000488d3521030000e80203000048" +
  "8d8424b0000000488944242048c74424281000000048c74424300000000048c744243800000000488d44242048894424" +
  "4048c744244801000000488d442470488944245048c74424584000000048c74424600000000031ff488d74243031d2b8" +
  "2f0000000f054883f8fc74934885c00f8eee00000049c7c4ffffffff49c7c5ffffffff49c7c6ffffffff31db48837c24" +
  "58107245837c247801753e837c247c017537488b5c24704883eb1048c1eb024883fb0172244c63a424800000004883fb" +
  "0272164c63ac24840000004883fb0372084c63b424880000000fb68424b000000083f875742783f87075374883fb0272" +
  "31bf008000284883fb037205bf00800020e8cd0100004885c07461eb1cbf11000010e8bc0100004885c00f846c010000" +
  "eb0748c7c0eaffffff898424b00000004c89e7e8d60100004c89efe8ce0100004c89f7e8c601000031ff488db424b000" +
  "0000ba04000000b8010000000f05e99cfeffff31ffb8e70000000f054d85f678204c89f7be00000008b8340100000f05" +
  "4885c00f85400100004c89f7e87d0100004c89e731f6b8210000000f054885c00f88230100004c89efbe01000000b821" +
  "0000000f054885c00f880b0100004c89e7e8480100004c89efe840010000488d3551010000e82701000031f6bf020000" +
  "00e8ff000000bf03000000e8f5000000bf01000000e8eb000000bf0f000000e8e100000031ff488db42400010000ba10" +
  "10000031c00f054883f8fc74e74883f8100f8c3cffffff4889c3488db42400010000e8ca000000488db4241001000048" +
  "8d4bf04c89ff803f00741631d24885c974088a1648ffc648ffc9881748ffc7ebe5bf01000000488d35d7000000ba0100" +
  "0000b8010000000f05bf01000000e88b00000031ffe884000000eb3431ffe87b000000488d359b000000e862000000bf" +
  "01000000be09000000b89d0000000f05b86e0000000f054839e80f85a3feffffb8220000000f05ebf7bf01000000e992" +
  "feffff31f631d24531d24531c0b8380000000f05c3488974240856488d74241031d241ba08000000b80d0000000f055e" +
  "c3bf0f000000b89d0000000f05c34885ff7807b8030000000f05c3737061776e2d706f6f6c00737061776e2d706f6f6c" +
  "2d70696400737061776e2d706f6f6c2d757372002e";

const MACHINES: Record<string, { machine: number; code: string }> = {
  x86_64: { machine: 62, code: X86_64_CODE },
};

export function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** The machine code for `arch` (Deno.build.arch), or null: no pool program there. */
export function poolProgramCode(arch: string = Deno.build.arch): Uint8Array<ArrayBuffer> | null {
  const entry = MACHINES[arch];
  return entry ? hexBytes(entry.code) : null;
}

const BASE = 0x400000n;
const EHDR = 64;
const PHDR = 56;

/**
 * A static ELF64 executable: one read+execute segment holding the headers
 * and `code` (entered at its first byte), and a non-executable stack.
 */
export function elfExecutable(machine: number, code: Uint8Array): Uint8Array<ArrayBuffer> {
  const offset = EHDR + 2 * PHDR;
  const image = new Uint8Array(offset + code.length);
  const v = new DataView(image.buffer);
  image.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]); // ELF, 64-bit, little endian, version 1, System V
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true); // EV_CURRENT
  v.setBigUint64(24, BASE + BigInt(offset), true); // e_entry
  v.setBigUint64(32, BigInt(EHDR), true); // e_phoff
  v.setUint16(52, EHDR, true); // e_ehsize
  v.setUint16(54, PHDR, true); // e_phentsize
  v.setUint16(56, 2, true); // e_phnum
  // PT_LOAD, R+X: the whole file at BASE.
  v.setUint32(EHDR, 1, true);
  v.setUint32(EHDR + 4, 5, true);
  v.setBigUint64(EHDR + 16, BASE, true); // p_vaddr
  v.setBigUint64(EHDR + 24, BASE, true); // p_paddr
  v.setBigUint64(EHDR + 32, BigInt(image.length), true); // p_filesz
  v.setBigUint64(EHDR + 40, BigInt(image.length), true); // p_memsz
  v.setBigUint64(EHDR + 48, 0x1000n, true); // p_align
  // PT_GNU_STACK, R+W.
  v.setUint32(EHDR + PHDR, 0x6474e551, true);
  v.setUint32(EHDR + PHDR + 4, 6, true);
  v.setBigUint64(EHDR + PHDR + 48, 16n, true);
  image.set(code, offset);
  return image;
}

/** The executable for this machine, or null (use the perl factory). */
export function poolProgramImage(arch: string = Deno.build.arch): Uint8Array<ArrayBuffer> | null {
  const entry = MACHINES[arch];
  return entry ? elfExecutable(entry.machine, hexBytes(entry.code)) : null;
}

/**
 * The program's environment: exactly the two markers (init_marker.ts), the
 * NAME one a placeholder of `maxName` filler bytes that each init overwrites
 * with its NAME. The NAME marker must come second (the program finds it as
 * envp[1]).
 */
export function initEnvironment(instance: string, maxName: number): string[] {
  const room = Math.min(Math.max(1, maxName), MAX_POOL_NAME);
  return [
    `${INSTANCE_VARIABLE}=${instance}`,
    `${NAME_VARIABLE}=${NAME_FILLER.repeat(room)}`,
  ];
}

const encoder = new TextEncoder();

/** What an init reads to become NAME's: its comm in 16 bytes, then NAME. */
export function initNaming(comm: string, name: string): Uint8Array<ArrayBuffer> {
  const commBytes = encoder.encode(comm).subarray(0, 15);
  const nameBytes = encoder.encode(name);
  if (nameBytes.length > MAX_POOL_NAME) throw new Error(`NAME longer than ${MAX_POOL_NAME} bytes`);
  const message = new Uint8Array(16 + nameBytes.length);
  message.set(commBytes);
  message.set(nameBytes, 16);
  return message;
}
