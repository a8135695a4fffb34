// /mcp: the Model Context Protocol over Streamable HTTP (the SDK's web-standard transport), one
// transport and SDK server per MCP session (Mcp-Session-Id), bounded in number and ended when idle.
// The key and the worker are checked by the route's scope before the SDK sees the request.
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Elysia } from 'elysia';
import { randomBytes } from 'node:crypto';
import type { Caller } from '../core/auth.ts';
import { ParameterError, PermissionError, ResourceUnavailableError } from '../core/errors.ts';
import type { AppDeps } from './deps.ts';
import { createMcpServer, type McpWorker } from './mcp-tools.ts';
import { requestCaller, scopes } from './scope.ts';

/** A browser page of another site calling a local server (DNS rebinding): MCP requires a 403. */
class OriginNotAllowedError extends ParameterError {
  override readonly status = 403;
}

interface McpSession extends McpWorker {
  readonly transport: WebStandardStreamableHTTPServerTransport;
  /** The worker id was made for this MCP session (its sessions end with it). */
  readonly generated: boolean;
  lastSeen: number;
}

const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

/** The host[:port] of an Origin, or null when it is not a URL ("null" from a sandboxed page). */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

/**
 * MCP's rule for HTTP servers: a request with an Origin is refused unless it comes from this
 * server's own origin; one without (a non-browser client) passes. A server bound to loopback
 * also refuses a Host that is not a loopback name: a rebound DNS name would carry its own.
 */
function checkOrigin(request: Request, loopback: boolean): void {
  const host = request.headers.get('host') ?? '';
  if (loopback && !LOOPBACK_HOST.test(host)) {
    throw new OriginNotAllowedError(
      `Host "${host.slice(0, 100)}" is not allowed on /mcp: this server listens on loopback ` +
        'only; connect as localhost or 127.0.0.1.',
    );
  }
  const origin = request.headers.get('origin');
  if (origin !== null && originHost(origin) !== host) {
    throw new OriginNotAllowedError(
      `Origin "${origin.slice(0, 100)}" is not allowed on /mcp: only this server's own origin ` +
        'or none (a non-browser client).',
    );
  }
}

/** A worker id for an MCP session that named none. */
const generatedWorkerId = () => `mcp-${randomBytes(6).toString('hex')}`;

/** A JSON-RPC error answer, as the SDK's transport gives for a session it does not know. */
function sessionNotFound(): Response {
  return Response.json(
    {
      jsonrpc: '2.0',
      error: { code: -32001, message: 'Session not found: initialize a new MCP session.' },
      id: null,
    },
    { status: 404 },
  );
}

/** The MCP sessions of one app: created on initialize, ended by DELETE, idleness or shutdown. */
class McpSessions {
  private readonly sessions = new Map<string, McpSession>();
  private readonly max: number;
  private readonly idleMs: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly deps: AppDeps) {
    this.max = deps.config.mcp.max_sessions;
    this.idleMs = deps.config.mcp.idle_timeout_seconds * 1000;
  }

  get(id: string): McpSession | undefined {
    return this.sessions.get(id);
  }

  /** Ends the sessions idle for longer than the timeout that have no call running. */
  sweep(now = Date.now()): void {
    for (const s of this.sessions.values()) {
      if (s.running.size === 0 && now - s.lastSeen > this.idleMs) void s.transport.close();
    }
  }

  /** A transport for an initialize request; registered once the SDK has given it its id. */
  open(workerId: string, generated: boolean, caller: Caller): McpSession {
    this.sweep();
    if (this.sessions.size >= this.max) {
      throw new ResourceUnavailableError(
        `The server holds ${this.max} MCP sessions, its limit (mcp.max_sessions); end some ` +
          '(DELETE /mcp) or retry when idle ones expire.',
      );
    }
    const transport: WebStandardStreamableHTTPServerTransport =
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        // A call's answer as one JSON body rather than an SSE stream: no server message is
        // sent during a call, and JSON costs less on both sides (bench/mcp.ts).
        enableJsonResponse: true,
        onsessioninitialized: (id) => void this.sessions.set(id, session),
      });
    const session: McpSession = {
      workerId,
      caller,
      generated,
      transport,
      running: new Map(),
      lastSeen: Date.now(),
    };
    transport.onclose = () => this.closed(session);
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(this.idleMs, 60_000));
    this.sweeper.unref?.();
    return session;
  }

  /** Forgets an ended session; a worker id made for it takes its sessions along. */
  private closed(session: McpSession): void {
    const id = session.transport.sessionId;
    if (id !== undefined && this.sessions.get(id) === session) this.sessions.delete(id);
    for (const call of session.running.values()) call.abort();
    const { sessions } = this.deps;
    if (session.generated && sessions.list(session.workerId).length > 0) {
      void sessions.destroy(session.workerId).catch(() => undefined);
    }
  }
}

/** One table per server, shared by /mcp and /api/v1/mcp. */
const hubs = new WeakMap<AppDeps['sessions'], McpSessions>();

export const mcpRoutes = (deps: AppDeps, prefix: string) => {
  let hub = hubs.get(deps.sessions);
  if (!hub) hubs.set(deps.sessions, (hub = new McpSessions(deps)));
  const sessionsOf = hub;
  const loopback = LOOPBACK_HOST.test(deps.config.host) || deps.config.host === '::1';

  const handle = async (request: Request, body: unknown): Promise<Response> => {
    checkOrigin(request, loopback);
    // The app copies X-Worker-ID into a body without worker_id (the REST convention), and the
    // route's scope has checked the key against it; a JSON-RPC message has no such member.
    // A GET or DELETE has no body: its scope checked the header itself.
    const sent = body as Record<string, unknown> | undefined;
    const headerWorker =
      typeof sent?.worker_id === 'string'
        ? sent.worker_id
        : (request.headers.get('x-worker-id') ?? undefined);
    if (sent && typeof sent === 'object') delete sent.worker_id;
    const parsedBody = request.method === 'POST' ? sent : undefined;
    const id = request.headers.get('mcp-session-id');
    let session: McpSession;
    if (id !== null) {
      const found = sessionsOf.get(id);
      // Bound to the key that opened it: any other key is told it does not exist.
      if (!found || found.caller.key !== requestCaller(request, found.workerId).key) {
        return sessionNotFound();
      }
      if (headerWorker !== undefined && headerWorker !== found.workerId) {
        throw new PermissionError(
          `This MCP session acts for worker "${found.workerId}", not "${headerWorker}".`,
        );
      }
      session = found;
    } else {
      if (request.method !== 'POST') {
        throw new ParameterError(
          `${request.method} /mcp needs the Mcp-Session-Id header of an initialized MCP session.`,
        );
      }
      const workerId = headerWorker ?? generatedWorkerId();
      session = sessionsOf.open(
        workerId,
        headerWorker === undefined,
        requestCaller(request, workerId),
      );
      await createMcpServer(deps, session).connect(session.transport);
    }
    session.lastSeen = Date.now();
    const calls = requestIds(parsedBody);
    // The client closing its stream cancels the calls it posted, as notifications/cancelled.
    if (calls.length > 0) {
      request.signal.addEventListener('abort', () => {
        for (const call of calls) session.running.get(call)?.abort();
      });
    }
    const response = await session.transport.handleRequest(request, { parsedBody });
    // Idle counts from the answer: a long call's session does not expire the moment it ends.
    session.lastSeen = Date.now();
    // A first request that was not an initialize leaves the transport without a session.
    if (id === null && session.transport.sessionId === undefined) await session.transport.close();
    return response;
  };

  const detail = (summary: string) => ({ summary, tags: ['mcp'] });
  return new Elysia({ name: 'mcp', seed: prefix, prefix })
    .use(scopes(deps))
    .post('/mcp', ({ request, body }) => handle(request, body), {
      scope: 'worker',
      detail: detail('MCP Streamable HTTP: a JSON-RPC message (initialize opens a session)'),
    })
    .get('/mcp', ({ request, body }) => handle(request, body), {
      scope: 'worker',
      detail: detail('MCP Streamable HTTP: the session’s stream of server messages (SSE)'),
    })
    .delete('/mcp', ({ request, body }) => handle(request, body), {
      scope: 'worker',
      detail: detail('MCP Streamable HTTP: end the session'),
    });
};

/** The ids of the JSON-RPC requests in a POST body (one message, or a batch of them). */
function requestIds(body: unknown): (string | number)[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((m) => {
    const id = (m as { id?: unknown; method?: unknown } | undefined)?.id;
    const isRequest = typeof (m as { method?: unknown })?.method === 'string';
    return isRequest && (typeof id === 'string' || typeof id === 'number') ? [id] : [];
  });
}
