// Which address a request comes from, the same way on both transports. Behind a reverse proxy the
// TCP peer is the proxy and the client is named in X-Forwarded-For; only a peer listed in
// server.trustProxy may name it, and only the hops that trusted proxies appended are believed.

import { BlockList, isIP } from 'node:net';

/** X-Forwarded-For hops examined from the right: no real chain of trusted proxies is longer. */
const MAX_HOPS = 16;
/** Longer than any address with a port or a zone: the entry is garbage. */
const MAX_ENTRY = 64;

export class ClientAddresses {
  /** Undefined when no proxy is trusted: X-Forwarded-For is never read. */
  private readonly trusted: BlockList | undefined;

  /** `trustProxy`: exact IPs, CIDRs (`10.0.0.0/8`, `::1/128`) or `loopback`; anything else throws. */
  constructor(trustProxy: readonly string[] = []) {
    if (trustProxy.length === 0) return;
    this.trusted = new BlockList();
    for (const entry of trustProxy) addRule(this.trusted, entry);
  }

  isTrusted(address: string): boolean {
    if (this.trusted === undefined) return false;
    const canonical = canonicalAddress(address);
    const family = isIP(canonical);
    if (family === 0) return false;
    try {
      return this.trusted.check(canonical, family === 4 ? 'ipv4' : 'ipv6');
    } catch {
      // isIP and BlockList's parser could disagree on some exotic spelling: such a peer is not trusted.
      return false;
    }
  }

  /**
   * The client of a request from TCP peer `peer` carrying `forwardedFor` (X-Forwarded-For, repeated
   * headers joined with commas). From a trusted peer: the right-most hop that is not itself trusted
   * (hops further left were written by the client and prove nothing). A garbage hop, or a chain
   * longer than MAX_HOPS, cannot be believed: the peer is the answer. Never throws.
   */
  resolve(peer: string, forwardedFor: string | undefined): string {
    const client = canonicalAddress(peer);
    if (this.trusted === undefined || forwardedFor === undefined || !this.isTrusted(client)) return client;
    let end = forwardedFor.length;
    for (let hops = 0; hops < MAX_HOPS; hops++) {
      const start = forwardedFor.lastIndexOf(',', end - 1) + 1;
      const hop = parseHop(forwardedFor.slice(start, end));
      if (hop === undefined) return client;
      // Not a proxy of ours, or the farthest hop named (every one of them trusted).
      if (!this.isTrusted(hop) || start === 0) return hop;
      end = start - 1;
    }
    return client;
  }
}

/**
 * One spelling per address, so limits keyed by it count one host once: IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`, which a dual-stack socket reports for IPv4 peers) becomes IPv4, and IPv6 the
 * short form of RFC 5952 (uWS writes all 32 digits). Anything that is not an address is unchanged.
 */
export function canonicalAddress(address: string): string {
  if (isIP(address) !== 6 || address.includes('%')) return address;
  const words = ipv6Words(address);
  if (words === undefined) return address;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    const hi = words[6] ?? 0;
    const lo = words[7] ?? 0;
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return formatIpv6(words);
}

function addRule(list: BlockList, entry: string): void {
  const rule = entry.trim();
  if (rule === 'loopback') {
    list.addSubnet('127.0.0.0', 8, 'ipv4');
    list.addAddress('::1', 'ipv6');
    return;
  }
  const slash = rule.indexOf('/');
  const address = canonicalAddress(slash === -1 ? rule : rule.slice(0, slash));
  const family = isIP(address);
  const prefixText = slash === -1 ? undefined : rule.slice(slash + 1);
  let prefix = prefixText === undefined ? undefined : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  // An IPv4-mapped CIDR (::ffff:10.0.0.0/104) was just turned into IPv4: its prefix follows.
  if (prefix !== undefined && family === 4 && isIP(rule.slice(0, slash)) === 6) prefix -= 96;
  const max = family === 4 ? 32 : 128;
  if (family === 0 || (prefix !== undefined && !(prefix >= 0 && prefix <= max))) {
    throw new TypeError(
      `server.trustProxy: '${entry}' is not an IP address, a CIDR range (10.0.0.0/8, ::1/128) or 'loopback'`,
    );
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) list.addAddress(address, type);
  else list.addSubnet(address, prefix, type);
}

/** One X-Forwarded-For hop: an address, optionally `v4:port` or `[v6]:port`; undefined if garbage. */
function parseHop(raw: string): string | undefined {
  let hop = raw.trim();
  if (hop.length === 0 || hop.length > MAX_ENTRY) return undefined;
  if (hop.startsWith('[')) {
    const close = hop.indexOf(']');
    if (close === -1) return undefined;
    hop = hop.slice(1, close);
  } else if (hop.indexOf(':') === hop.lastIndexOf(':') && hop.includes('.')) {
    const colon = hop.indexOf(':');
    if (colon !== -1) hop = hop.slice(0, colon);
  }
  return isIP(hop) === 0 ? undefined : canonicalAddress(hop);
}

/** The eight 16-bit words of an IPv6 address already validated by isIP. */
function ipv6Words(address: string): number[] | undefined {
  const halves = address.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): number[] => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(group, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

/** RFC 5952: lower case, no leading zeros, the longest run of two or more zero words as `::`. */
function formatIpv6(words: number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestAt === -1) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}
