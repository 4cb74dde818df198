// Capabilities by channel pattern, as tokens grant them: `{"chat:*": ["subscribe", "publish"]}`.
// `*` matches any run of characters (including none); everything else matches itself. Exact
// patterns are a map lookup; wildcard patterns are compiled once into anchored regular expressions.

import type { Capability, Caps } from '../config/index.js';
import { globToRegExp } from '../util/glob.js';

export class Capabilities {
  /** Everything, everywhere: auth is off. */
  static readonly all = new Capabilities({ '*': ['subscribe', 'publish', 'presence', 'history', 'incr'] });
  static readonly none = new Capabilities({});

  private readonly exact = new Map<string, ReadonlySet<Capability>>();
  private readonly wildcards: { pattern: RegExp; caps: ReadonlySet<Capability> }[] = [];

  constructor(caps: Caps) {
    for (const [pattern, list] of Object.entries(caps)) {
      const set = new Set(list);
      if (pattern.includes('*')) this.wildcards.push({ pattern: globToRegExp(pattern), caps: set });
      else this.exact.set(pattern, set);
    }
  }

  allows(channel: string, cap: Capability): boolean {
    if (this.exact.get(channel)?.has(cap) === true) return true;
    for (const w of this.wildcards) if (w.caps.has(cap) && w.pattern.test(channel)) return true;
    return false;
  }
}
