// Which IP addresses a visited page may live at: public unicast only, unless the operator allows
// more. Covers loopback, private, link-local (cloud metadata), unique-local, CGNAT, multicast,
// unspecified, and IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4).
import { isIPv4, isIPv6 } from 'node:net';

const v4 = (a: string): number[] => a.split('.').map(Number);

function privateV4([a, b]: number[]): string | null {
  if (a === 0) return 'unspecified ("this network")';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 169 && b === 254) return 'link-local (cloud metadata)';
  if (a === 100 && b! >= 64 && b! <= 127) return 'shared (CGNAT)';
  if (a === 192 && b === 0) return 'reserved';
  if (a === 198 && (b === 18 || b === 19)) return 'benchmarking';
  if (a! >= 224) return 'multicast or reserved';
  return null;
}

/** The 8 groups of an IPv6 address (with an embedded dotted IPv4 tail expanded). */
function groups(addr: string): number[] {
  let s = addr.toLowerCase().replace(/%.*$/, '');
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const [a, b, c, d] = v4(tail[1]!);
    s =
      s.slice(0, -tail[1]!.length) +
      `${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const fill = rest === undefined ? [] : Array(8 - h.length - r.length).fill('0');
  return [...h, ...fill, ...r].map((g) => parseInt(g, 16));
}

const embedded = (g: number[], at: number) => [
  g[at]! >> 8,
  g[at]! & 255,
  g[at + 1]! >> 8,
  g[at + 1]! & 255,
];

function privateV6(g: number[]): string | null {
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(8)) return 'unspecified';
  if (zeros(7) && g[7] === 1) return 'loopback';
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible) reach the IPv4 address.
  if (zeros(5) && (g[5] === 0xffff || g[5] === 0)) {
    const why = privateV4(embedded(g, 6));
    return why ? `IPv4-mapped ${why}` : null;
  }
  // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765) reaches it too.
  if (zeros(4) && g[4] === 0xffff && g[5] === 0) {
    const why = privateV4(embedded(g, 6));
    return why ? `IPv4-translated ${why}` : null;
  }
  // 64:ff9b:1::/48 is for NAT64 inside one network (RFC 8215): never a public address.
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'local-use NAT64';
  if (g[0] === 0x64 && g[1] === 0xff9b) {
    const why = privateV4(embedded(g, 6));
    return why ? `NAT64 ${why}` : null;
  }
  if (g[0] === 0x2002) {
    const why = privateV4(embedded(g, 1));
    return why ? `6to4 ${why}` : null;
  }
  if ((g[0]! & 0xfe00) === 0xfc00) return 'unique-local';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xffc0) === 0xfec0) return 'site-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'documentation';
  return null;
}

/** Why `addr` is not a public address (e.g. "loopback"), or null when it is one. */
export function nonPublicReason(addr: string): string | null {
  if (isIPv4(addr)) return privateV4(v4(addr));
  if (isIPv6(addr)) return privateV6(groups(addr));
  return 'not an IP address';
}
