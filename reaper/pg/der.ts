// The little DER (ASN.1) reading that certificates and CRLs need here:
// tag-length-value elements, their children, object identifiers.

export interface Tlv {
  tag: number;
  /** The whole element (tag, length, contents). */
  start: number;
  contentStart: number;
  end: number;
}

export function tlv(der: Uint8Array, at: number): Tlv {
  const tag = der[at];
  let len = der[at + 1];
  let contentStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[contentStart + i];
    contentStart += n;
  }
  if (contentStart + len > der.length) throw new Error("truncated DER");
  return { tag, start: at, contentStart, end: contentStart + len };
}

/** The elements inside a constructed element. */
export function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const t = tlv(der, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** An OBJECT IDENTIFIER's contents in dotted form. */
export function oidText(b: Uint8Array): string {
  const parts = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (const x of b.subarray(1)) {
    v = v * 128 + (x & 0x7f);
    if (!(x & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}
