// API keys and scopes (SPEC §8): an admin key may do anything; a worker key only touches the
// worker ids its pattern matches. Keys are compared as SHA-256 digests in constant time, so
// neither their length nor their content leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthenticationError, PermissionError } from './errors.ts';

export interface ApiKeyConfig {
  key: string;
  name?: string;
  scope: 'admin' | 'worker';
  /** Glob over worker ids (`*` any run of characters, `?` one), for worker keys. */
  workers: string;
}

export interface Principal {
  name: string;
  admin: boolean;
  workers: RegExp | null;
}

/** Who calls when no key is configured: anyone may do anything (loopback only, see main.ts). */
export const UNRESTRICTED: Principal = { name: 'anyone', admin: true, workers: null };

/** Who makes a tool call, as the core hands it to tools (ToolContext.caller). */
export interface Caller {
  readonly workerId: string;
  /** An admin key, or any request when no keys are configured (loopback dev mode). */
  readonly admin: boolean;
  /** The key's name for messages; null when no key was checked. */
  readonly key: string | null;
}

/** The caller a principal makes for one worker id; no principal at all is no scope at all. */
export function callerOf(principal: Principal | undefined, workerId: string): Caller {
  if (!principal) return { workerId, admin: false, key: null };
  return {
    workerId,
    admin: principal.admin,
    key: principal === UNRESTRICTED ? null : principal.name,
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

export class KeyRing {
  private readonly entries: { digest: Buffer; principal: Principal }[];

  constructor(adminKey: string | undefined, keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((k, i) => ({
      digest: digest(k.key),
      principal: {
        name: k.name ?? `key ${i + 1}`,
        admin: k.scope === 'admin',
        workers: k.scope === 'admin' ? null : globToRegExp(k.workers),
      },
    }));
    if (adminKey) {
      this.entries.unshift({
        digest: digest(adminKey),
        principal: { name: 'admin', admin: true, workers: null },
      });
    }
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The key's principal, or 1006/401 when the key is missing or unknown. */
  authenticate(sent: string | null): Principal {
    if (sent) {
      const d = digest(sent);
      let found: Principal | undefined;
      // Compare with every entry (no early exit), so timing says nothing about which matched.
      for (const e of this.entries) if (timingSafeEqual(d, e.digest)) found ??= e.principal;
      if (found) return found;
    }
    throw new AuthenticationError(
      'Missing or wrong API key: send it as "Authorization: Bearer <key>" or "X-API-Key".',
    );
  }
}

export function requireAdmin(p: Principal, what: string): void {
  if (!p.admin)
    throw new PermissionError(`${what} needs an admin key; key "${p.name}" is a worker key.`);
}

export function requireWorker(p: Principal, workerId: string): void {
  if (p.admin || p.workers?.test(workerId)) return;
  throw new PermissionError(`Key "${p.name}" may not act for worker "${workerId}".`);
}
