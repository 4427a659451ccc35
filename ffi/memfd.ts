// memfd_create(2) with seals: an anonymous file that, once sealed, nobody
// (not even its creator) can change. Used to hold a program to execute.
import { libc } from "./libc.ts";
import { check, cstr } from "./sys_error.ts";
import { closeQuietly, write } from "./fd.ts";

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 0x1;
const F_SEAL_SHRINK = 0x2;
const F_SEAL_GROW = 0x4;
const F_SEAL_WRITE = 0x8;

/** A close-on-exec memfd holding `content`, sealed against every change. */
export function sealedMemfd(name: string, content: Uint8Array<ArrayBuffer>): number {
  const fd = check(
    libc.memfd_create(cstr(name), MFD_CLOEXEC | MFD_ALLOW_SEALING),
    `memfd_create(${name})`,
  );
  try {
    for (let offset = 0; offset < content.length;) {
      const n = write(fd, content.subarray(offset));
      if (n === null || n === 0) throw new Error(`write to memfd ${name} made no progress`);
      offset += n;
    }
    check(
      libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
      `fcntl(memfd ${name}, F_ADD_SEALS)`,
    );
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}
