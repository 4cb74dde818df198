// Checks for values that came from JSON.parse of hostile input. Publication data is checked without
// recursion (a frame of a few thousand `[` must not overflow the stack) and without copying it, so
// what is delivered is exactly what was sent, `__proto__` keys included.

import { z } from 'zod';

/** The default of `limits.maxDepth`. */
export const DEFAULT_MAX_DEPTH = 64;

/**
 * Why `value` (parsed from JSON) cannot be published as it is, or undefined if it can: nested
 * deeper than `maxDepth` arrays/objects, or a number JSON cannot carry back (1e400 parses to
 * Infinity, which would be delivered as null).
 */
export function jsonDataProblem(value: unknown, maxDepth: number): string | undefined {
  if (value === undefined) return 'is required';
  // Each container is pushed with its depth; scalars are checked where they are found.
  const stack: unknown[] = [value];
  const depths: number[] = [0];
  while (stack.length > 0) {
    const v = stack.pop();
    const depth = depths.pop() as number;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'numbers must be finite (JSON cannot carry this one)';
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > maxDepth) return `is nested deeper than ${maxDepth} levels`;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        stack.push(child);
        depths.push(depth + 1);
      } else if (typeof child === 'number' && !Number.isFinite(child)) {
        return 'numbers must be finite (JSON cannot carry this one)';
      }
    }
  }
  return undefined;
}

// With the u flag a surrogate pair is one code point, so this matches only unpaired halves.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** A string that is valid Unicode: names stored as keys (members, idempotency keys) must be. */
export function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** A zod string that refuses lone UTF-16 surrogates, which Redis would store as U+FFFD. */
export const wellFormedString = () =>
  z.string().refine(wellFormed, { message: 'must be valid Unicode text (it holds a lone UTF-16 surrogate)' });
