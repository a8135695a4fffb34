// Who may call a route, declared on the route: `{ scope: 'open' | 'key' | 'worker' | 'admin' }`
// (README "API keys and scopes"). The check is part of the matched route's own hooks, so it
// follows whichever route the router picked, whatever the URL looked like.
import { Elysia } from 'elysia';
import {
  UNRESTRICTED,
  callerOf,
  requireAdmin,
  requireWorker,
  type Caller,
  type Principal,
} from '../core/auth.ts';
import { readJsonBody } from './body.ts';
import type { AppDeps } from './deps.ts';

export type Scope = 'open' | 'key' | 'worker' | 'admin';

/** The OpenAPI extension each route's scope is recorded under (and read back by the tests). */
export const SCOPE_FIELD = 'x-agentflow-scope';

/** The key the request presents: `Authorization: Bearer` (scheme in any case, RFC 7235) or X-API-Key. */
export function presentedKey(request: Request): string | null {
  const bearer = /^\s*bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  if (bearer) return bearer[1]!;
  return request.headers.get('x-api-key')?.trim() || null;
}

const principals = new WeakMap<Request, Principal>();

/**
 * Who makes the tool calls of this request for `workerId` (ExecuteRequest.caller), from the
 * principal its route's scope check found; a request no check ran for is never admin.
 */
export function requestCaller(request: Request, workerId: string): Caller {
  return callerOf(principals.get(request), workerId);
}

export const scopes = ({ keys, gate, config }: Pick<AppDeps, 'keys' | 'gate' | 'config'>) => {
  const maxBody = config.limits.max_body_bytes;
  /** Who sent the request (cached: both the parse and the transform hook ask). */
  const authenticate = (request: Request): Principal => {
    let principal = principals.get(request);
    if (!principal) {
      gate.assertOpen();
      principal = keys.enabled ? keys.authenticate(presentedKey(request)) : UNRESTRICTED;
      principals.set(request, principal);
    }
    return principal;
  };
  return new Elysia({ name: 'scopes' }).macro({
    scope: (scope: Scope) => ({
      detail: { [SCOPE_FIELD]: scope } as Record<string, unknown>,
      // Route hooks run after global ones, so the body is read here, after the key is known:
      // a caller without a key gets 401 before a byte of its body is read.
      async parse({ request }: { request: Request }) {
        if (scope !== 'open') authenticate(request);
        return readJsonBody(request, maxBody);
      },
      // Before validation, once the body (and the X-Worker-ID fallback) names the worker.
      transform({ request, route, body }: { request: Request; route: string; body: unknown }) {
        if (scope === 'open') return;
        const principal = authenticate(request);
        if (scope === 'admin') requireAdmin(principal, `${request.method} ${route}`);
        if (scope !== 'worker') return;
        // The app copies X-Worker-ID into a body without worker_id; a GET has no body to copy to.
        const sent = body as { worker_id?: unknown } | undefined;
        const workerId =
          sent && typeof sent === 'object' && 'worker_id' in sent
            ? sent.worker_id
            : request.headers.get('x-worker-id');
        if (typeof workerId === 'string') requireWorker(principal, workerId);
        else requireAdmin(principal, `${request.method} ${route} without a worker_id`);
      },
    }),
  });
};
