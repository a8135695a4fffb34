// Fetching a page the agent named, safe against SSRF: each hop's host is resolved, every address
// it resolves to is checked (address.ts), and the request goes to the checked address itself
// (Host header and TLS server name kept), so a DNS answer that changes in between (rebinding)
// cannot redirect it. Redirects are followed by hand, each hop checked the same, up to a cap.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { BackendError, ParameterError } from '../../core/errors.ts';
import { nonPublicReason } from './address.ts';
import { send, type Answer, type Limits } from './transport.ts';

export interface FetchPolicy {
  /** true: any address; else the hosts (`host` or `host:port`) allowed to be private. */
  allowPrivate: boolean | readonly string[];
  maxRedirects: number;
}

export interface Page extends Answer {
  /** Where the last redirect led. */
  url: string;
}

const KEY = 'backends.web.allow_private_addresses';

/** A URL an agent may ask for: http(s), with a host. */
export function pageUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ParameterError(`"${raw}" is not a URL; give an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ParameterError(`"${raw}" is a ${url.protocol} URL; only http and https are visited`);
  }
  if (url.username || url.password) {
    throw new ParameterError(`"${raw}" carries credentials; give the URL without user:password@`);
  }
  return url;
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (err) {
    throw new BackendError(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** The address to connect to, once every address the host has is one the policy allows. */
async function checkedAddress(url: URL, policy: FetchPolicy): Promise<string> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const addrs = await addressesOf(host);
  const allowed =
    policy.allowPrivate === true ||
    (Array.isArray(policy.allowPrivate) &&
      (policy.allowPrivate.includes(url.hostname) || policy.allowPrivate.includes(url.host)));
  if (!allowed) {
    for (const addr of addrs) {
      const why = nonPublicReason(addr);
      if (why) {
        throw new ParameterError(
          `${url.href} is refused: ${host === addr ? 'it is' : `${host} resolves to ${addr},`} a ` +
            `${why} address. Pages on private networks are fetched only when ${KEY} allows them`,
        );
      }
    }
  }
  return addrs[0]!;
}

export async function fetchPage(
  raw: string,
  policy: FetchPolicy,
  limits: Limits,
  headers: Record<string, string>,
): Promise<Page> {
  let url = pageUrl(raw);
  const started = performance.now();
  for (let hop = 0; ; hop++) {
    const addr = await checkedAddress(url, policy);
    const target = new URL(url.href);
    target.hostname = isIP(addr) === 6 ? `[${addr}]` : addr;
    const left = { ...limits, timeoutMs: limits.timeoutMs - (performance.now() - started) };
    const answer = await send(
      target.href,
      {
        headers: { ...headers, Host: url.host },
        ...(url.protocol === 'https:' ? { tls: { serverName: url.hostname } } : {}),
      },
      left,
      `the page ${url.href}`,
    );
    const location = answer.headers.get('location');
    if (answer.status < 300 || answer.status >= 400 || !location)
      return { ...answer, url: url.href };
    if (hop >= policy.maxRedirects) {
      throw new BackendError(
        `${raw} redirected more than ${policy.maxRedirects} times (backends.web.max_redirects)`,
      );
    }
    url = pageUrl(new URL(location, url).href);
  }
}
