// Who made a request, for the core (ExecuteRequest.caller): the API-key check in app.ts records
// the request's principal, and the routes that hand calls to the core read it back.
import { callerOf, type Caller, type Principal } from '../core/auth.ts';

export { KEYLESS_PRINCIPAL } from '../core/auth.ts';

const principals = new WeakMap<Request, Principal>();

/** Called once the key is checked; `undefined` (no key checked) leaves the request scopeless. */
export function recordPrincipal(request: Request, principal: Principal | undefined): void {
  if (principal) principals.set(request, principal);
}

/** The caller of a tool call made by this request for `workerId` (never admin unless recorded). */
export function requestCaller(request: Request, workerId: string): Caller {
  return callerOf(principals.get(request), workerId);
}
