// How many of something each uid holds (user namespaces made for its
// requests). Pure.
export class UidCounter {
  readonly #counts = new Map<number, number>();

  get(uid: number): number {
    return this.#counts.get(uid) ?? 0;
  }

  add(uid: number): void {
    this.#counts.set(uid, this.get(uid) + 1);
  }

  remove(uid: number): void {
    const n = this.get(uid) - 1;
    if (n > 0) this.#counts.set(uid, n);
    else this.#counts.delete(uid);
  }
}
