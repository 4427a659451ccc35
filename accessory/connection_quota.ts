// Who may hold how many of the daemon's connections. Pure. Checked at accept
// with SO_PEERCRED, before any request, so that idle connections of one uid
// (allowed or not) cannot lock others out:
// - every uid but 0 has a quota (maxConnectionsPerUid);
// - uids the access list refuses share a small pool (maxRefusedConnections);
// - some room is kept for uid 0 alone.

export interface ConnectionLimits {
  /** Open client connections in all. */
  maxConnections: number;
  /** Open connections of one uid other than 0. */
  maxConnectionsPerUid: number;
  /** Open connections of all uids the access list refuses together. */
  maxRefusedConnections: number;
}

/** Connections only uid 0 may take: an eighth of the limit, at most 64. */
export function rootReserve(maxConnections: number): number {
  return Math.min(64, Math.floor(maxConnections / 8));
}

/** A peer without credentials counts as this uid (refused). */
export const UNKNOWN_UID = -1;

export class ConnectionQuota {
  #total = 0;
  #refused = 0;
  readonly #perUid = new Map<number, number>();

  constructor(readonly limits: ConnectionLimits) {}

  /** Counts the connection and returns null, or returns why it is refused. */
  admit(uid: number, allowed: boolean): string | null {
    const { maxConnections, maxConnectionsPerUid, maxRefusedConnections } = this.limits;
    if (this.#total >= maxConnections) {
      return `${this.#total} connections open (limit ${maxConnections})`;
    }
    if (uid !== 0) {
      const reserve = rootReserve(maxConnections);
      if (this.#total >= maxConnections - reserve) {
        return `${this.#total} connections open (limit ${maxConnections}, ${reserve} kept for uid 0)`;
      }
      const mine = this.#perUid.get(uid) ?? 0;
      if (mine >= maxConnectionsPerUid) {
        return `uid ${uid} has ${mine} connections open (limit ${maxConnectionsPerUid} per uid)`;
      }
      if (!allowed && this.#refused >= maxRefusedConnections) {
        return `${this.#refused} connections of refused uids open (limit ${maxRefusedConnections})`;
      }
    }
    this.#total++;
    if (!allowed) this.#refused++;
    this.#perUid.set(uid, (this.#perUid.get(uid) ?? 0) + 1);
    return null;
  }

  /** Forgets a connection admitted with the same arguments. */
  release(uid: number, allowed: boolean): void {
    this.#total--;
    if (!allowed) this.#refused--;
    const mine = (this.#perUid.get(uid) ?? 1) - 1;
    if (mine > 0) this.#perUid.set(uid, mine);
    else this.#perUid.delete(uid);
  }

  get total(): number {
    return this.#total;
  }
}
