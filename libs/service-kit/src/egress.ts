// Outbound requests to URLs that API consumers chose (webhook endpoints): never into our own
// network. Loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast and other
// special-purpose ranges are refused unless an operator allows a CIDR explicitly.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';

/** Special-purpose ranges (RFC 6890 and friends) a consumer's URL may never reach. */
const FORBIDDEN: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.88.99.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

export interface EgressPolicy {
  /** true when a connection to this IP address is allowed */
  allowsAddress(address: string): boolean;
  /**
   * What can be said without DNS: a literal address in a forbidden range, or a name that always
   * means this machine, is refused (returns the reason); anything else passes for now and is
   * checked again, resolved, at connection time.
   */
  refuseUrl(url: string): string | undefined;
  /** a `lookup` for http(s).request: resolves, then refuses when any address is forbidden */
  lookup: LookupFunction;
}

/** Parses "a.b.c.d/n" or "v6::/n"; throws naming the entry when it is not a CIDR. */
export function parseCidr(entry: string): [string, number, 'ipv4' | 'ipv6'] {
  const [address = '', bits] = entry.trim().split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new Error(`not a CIDR: ${entry}`);
  }
  return [address, prefix, family === 4 ? 'ipv4' : 'ipv6'];
}

/** An env variable holding comma-separated CIDRs (empty by default); a bad entry fails at boot. */
export const CidrList = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const entries = value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    for (const entry of entries) {
      try {
        parseCidr(entry);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected comma-separated CIDRs' });
        return z.NEVER;
      }
    }
    return entries;
  });

export function createEgressPolicy(allowedCidrs: readonly string[] = []): EgressPolicy {
  const forbidden = new BlockList();
  for (const [address, prefix, type] of FORBIDDEN) forbidden.addSubnet(address, prefix, type);
  const allowed = new BlockList();
  for (const entry of allowedCidrs) allowed.addSubnet(...parseCidr(entry));

  function allowsAddress(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    let type: 'ipv4' | 'ipv6' = family === 4 ? 'ipv4' : 'ipv6';
    let ip = address;
    // ::ffff:10.0.0.1 is 10.0.0.1 to the kernel.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) {
      ip = mapped[1];
      type = 'ipv4';
    }
    if (allowed.check(ip, type)) return true;
    return !forbidden.check(ip, type);
  }

  function refuseUrl(url: string): string | undefined {
    let host: string;
    try {
      host = new URL(url).hostname
        .replace(/^\[|\]$/g, '')
        .replace(/\.$/, '')
        .toLowerCase();
    } catch {
      return 'not a URL';
    }
    if (isIP(host) !== 0) {
      return allowsAddress(host) ? undefined : 'the address is in a private or reserved range';
    }
    if (host === 'localhost' || host.endsWith('.localhost')) {
      return allowsAddress('127.0.0.1') ? undefined : 'the host is this machine';
    }
    return undefined;
  }

  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      // Every address must pass: a name with one public and one private address could otherwise
      // be steered to the private one.
      const refused = addresses.find((a) => !allowsAddress(a.address));
      if (refused || addresses.length === 0) {
        const error = Object.assign(
          new Error(`${hostname} resolves to a private or reserved address`),
          { code: 'EGRESS_REFUSED' },
        );
        callback(error, '', 0);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
    });
  };

  return { allowsAddress, refuseUrl, lookup };
}
