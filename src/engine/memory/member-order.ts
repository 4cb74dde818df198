// The order Redis gives sorted-set members with equal scores: the byte order of their UTF-8, which
// is Unicode code point order. Both engines must agree on it for ranks to match across nodes.

/**
 * JS `<` compares UTF-16 code units, which agrees with code point order except when a surrogate
 * (a code point >= U+10000) meets U+E000..U+FFFF; only that case takes the slow branch.
 */
export function compareMembers(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x < 0xd800 || y < 0xd800) return x - y;
      // Lift surrogates above U+E000..U+FFFF, keeping each group's own order.
      return (x < 0xe000 ? x + 0x2000 : x - 0x800) - (y < 0xe000 ? y + 0x2000 : y - 0x800);
    }
  }
  return a.length - b.length;
}
