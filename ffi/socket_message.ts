// sendmsg/recvmsg with ancillary data (SCM_RIGHTS, SCM_CREDENTIALS).
// x86-64 layouts:
//   struct iovec   { void *iov_base; size_t iov_len; }                       16 bytes
//   struct msghdr  { void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov;
//                    size_t msg_iovlen; void *msg_control; size_t msg_controllen;
//                    int msg_flags; }                                          56 bytes
//   struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; data... }   16 + data
//   struct ucred   { pid_t pid; uid_t uid; gid_t gid; }                         12 bytes
import { libc } from "./libc.ts";
import { checkAllowing } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";
import type { Credentials } from "./socket.ts";

export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const CMSG_HEADER = 16;

const align8 = (n: number) => (n + 7) & ~7;
const cmsgSpace = (n: number) => CMSG_HEADER + align8(n);

function address(buf: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

export interface ReceivedMessage {
  /** Bytes of payload received (0 = peer closed a SOCK_SEQPACKET connection). */
  length: number;
  /** Received file descriptors, already close-on-exec; the caller owns them. */
  fds: number[];
  /** SCM_CREDENTIALS, present when SO_PASSCRED is set on the socket. */
  credentials?: Credentials;
  /** msg_flags: MSG_TRUNC / MSG_CTRUNC tell of a cut message. */
  flags: number;
}

/** Receives into caller-supplied buffers; one instance serves many calls. */
export class MessageReceiver {
  readonly #iov = new Uint8Array(16);
  readonly #msg = new Uint8Array(56);
  readonly #control: Uint8Array<ArrayBuffer>;
  readonly #iovView = new DataView(this.#iov.buffer);
  readonly #msgView = new DataView(this.#msg.buffer);
  readonly #controlView: DataView;

  constructor(maxFds = 8) {
    this.#control = new Uint8Array(cmsgSpace(12) + cmsgSpace(4 * maxFds));
    this.#controlView = new DataView(this.#control.buffer);
    this.#msgView.setBigUint64(16, address(this.#iov), true);
    this.#msgView.setBigUint64(24, 1n, true);
    this.#msgView.setBigUint64(32, address(this.#control), true);
  }

  /**
   * recvmsg(MSG_DONTWAIT|MSG_CMSG_CLOEXEC); null when nothing is queued.
   * Pass flags 0 to block on a blocking socket (null then means its
   * SO_RCVTIMEO expired).
   */
  receive(fd: number, buf: Uint8Array<ArrayBuffer>, flags = MSG_DONTWAIT): ReceivedMessage | null {
    this.#iovView.setBigUint64(0, address(buf), true);
    this.#iovView.setBigUint64(8, BigInt(buf.length), true);
    this.#msgView.setBigUint64(40, BigInt(this.#control.length), true);
    this.#msgView.setInt32(48, 0, true);
    const n = checkAllowing(
      libc.recvmsg(fd, this.#msg, flags | MSG_CMSG_CLOEXEC),
      `recvmsg(${fd})`,
      [Errno.EAGAIN, Errno.EINTR],
    );
    if (n < 0) return null;
    const msgFlags = this.#msgView.getInt32(48, true);
    const controlLength = Number(this.#msgView.getBigUint64(40, true));
    const result: ReceivedMessage = { length: n, fds: [], flags: msgFlags };
    const v = this.#controlView;
    for (let off = 0; off + CMSG_HEADER <= controlLength;) {
      const len = Number(v.getBigUint64(off, true));
      if (len < CMSG_HEADER) break;
      const level = v.getInt32(off + 8, true);
      const type = v.getInt32(off + 12, true);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        for (let p = off + CMSG_HEADER; p + 4 <= off + len; p += 4) {
          result.fds.push(v.getInt32(p, true));
        }
      } else if (level === SOL_SOCKET && type === SCM_CREDENTIALS && len >= CMSG_HEADER + 12) {
        result.credentials = {
          pid: v.getInt32(off + 16, true),
          uid: v.getUint32(off + 20, true),
          gid: v.getUint32(off + 24, true),
        };
      }
      off += align8(len);
    }
    return result;
  }
}

/**
 * sendmsg(MSG_DONTWAIT|MSG_NOSIGNAL) of one datagram with optional fds
 * (SCM_RIGHTS). Returns the bytes sent, or null if the socket buffer is full.
 * Allocates per call; hot paths keep a MessageSender.
 */
export function sendMessage(
  fd: number,
  data: Uint8Array<ArrayBuffer>,
  fds: readonly number[] = [],
  flags = MSG_DONTWAIT | MSG_NOSIGNAL,
): number | null {
  return new MessageSender(Math.max(fds.length, 1)).send(fd, data, fds, flags);
}

/** sendmsg with SCM_RIGHTS from buffers preallocated once, for hot paths. */
export class MessageSender {
  readonly #iov = new Uint8Array(16);
  readonly #msg = new Uint8Array(56);
  readonly #control: Uint8Array<ArrayBuffer>;
  readonly #iovView = new DataView(this.#iov.buffer);
  readonly #msgView = new DataView(this.#msg.buffer);
  readonly #controlView: DataView;
  readonly #controlAddress: bigint;

  constructor(readonly maxFds = 8) {
    this.#control = new Uint8Array(cmsgSpace(4 * maxFds));
    this.#controlView = new DataView(this.#control.buffer);
    this.#controlAddress = address(this.#control);
    this.#msgView.setBigUint64(16, address(this.#iov), true);
    this.#msgView.setBigUint64(24, 1n, true);
  }

  /** Returns the bytes sent, or null if the socket buffer is full (EAGAIN). */
  send(
    fd: number,
    data: Uint8Array<ArrayBuffer>,
    fds: readonly number[] = [],
    flags = MSG_DONTWAIT | MSG_NOSIGNAL,
  ): number | null {
    if (fds.length > this.maxFds) throw new RangeError(`at most ${this.maxFds} fds per message`);
    this.#iovView.setBigUint64(0, address(data), true);
    this.#iovView.setBigUint64(8, BigInt(data.length), true);
    if (fds.length > 0) {
      const cv = this.#controlView;
      cv.setBigUint64(0, BigInt(CMSG_HEADER + 4 * fds.length), true);
      cv.setInt32(8, SOL_SOCKET, true);
      cv.setInt32(12, SCM_RIGHTS, true);
      for (let i = 0; i < fds.length; i++) cv.setInt32(CMSG_HEADER + 4 * i, fds[i], true);
      this.#msgView.setBigUint64(32, this.#controlAddress, true);
      this.#msgView.setBigUint64(40, BigInt(cmsgSpace(4 * fds.length)), true);
    } else {
      this.#msgView.setBigUint64(32, 0n, true);
      this.#msgView.setBigUint64(40, 0n, true);
    }
    const n = checkAllowing(libc.sendmsg(fd, this.#msg, flags), `sendmsg(${fd})`, [Errno.EAGAIN]);
    return n < 0 ? null : n;
  }
}
