// The Backend interface every resource type implements, and the shape of a tool. Adding a resource
// type means writing one of these in its own folder and listing its module in backends/index.ts.
import type { Static, TSchema } from '@sinclair/typebox';
import type { Caller } from '../core/auth.ts';
import type { Logger } from '../core/log.ts';

/** What the core knows about a session, handed to the backend that owns it. */
export interface SessionInfo {
  readonly sessionId: string;
  readonly workerId: string;
  readonly resourceType: string;
  readonly sessionName: string;
  /** The validated session config (defaults applied). */
  readonly config: Record<string, unknown>;
  /** Backend-owned state persisted in the store (e.g. the shell's working directory). */
  readonly state: Record<string, unknown>;
  /** Temporary sessions live for one call and are never stored. */
  readonly temporary: boolean;
}

export interface ToolContext<H> {
  /** The session's live handle; undefined for shared (sessionless) backends. */
  readonly session: H;
  readonly sessionId: string | null;
  /** The config of the worker's session of this type (defaults applied), or null when none. */
  readonly sessionConfig: Record<string, unknown> | null;
  readonly workerId: string;
  /** Which key made the call (admin or worker), for tools that guard shared state. */
  readonly caller: Caller;
  /** Milliseconds left for this call; the handler stops its work by then. */
  readonly timeoutMs: number;
  /** Aborted when the executor gives up on the call (timeout backstop, shutdown with force). */
  readonly signal: AbortSignal;
}

export interface ToolDefinition<P extends TSchema = TSchema, H = any> {
  /** Short name, e.g. `run`; the full name is `<resource type>:<name>`. */
  readonly name: string;
  readonly description: string;
  readonly params: P;
  readonly returns?: TSchema;
  readonly hidden?: boolean;
  run(params: Static<P>, ctx: ToolContext<H>): Promise<unknown>;
}

/** Keeps the params type flowing from the schema into the handler. */
export function defineTool<P extends TSchema, H>(tool: ToolDefinition<P, H>): ToolDefinition<P, H> {
  return tool;
}

export interface WarmupProgress {
  /** 0..1 */
  readonly fraction: number;
  readonly detail?: string;
}

export interface WarmupContext {
  progress(p: WarmupProgress): void;
  /** Runs a one-shot task in a worker thread (see core/workers.ts) and returns its result. */
  runInWorker<T>(url: URL, input: unknown): Promise<T>;
}

export interface Backend<H = any> {
  /** The resource type, e.g. `bash`. */
  readonly name: string;
  readonly description: string;
  /** Present when workers may create sessions: the schema `/session/create` validates against. */
  readonly sessionConfig?: TSchema;
  /**
   * Shared backends (rag) run their tools without a session and never make temporary ones; a
   * session a worker creates for one only carries config defaults handed to its calls.
   */
  readonly shared?: boolean;
  readonly tools: readonly ToolDefinition<any, H>[];

  /** Loads what the backend needs before its first call; runs its heavy part in worker threads. */
  warmup?(ctx: WarmupContext): Promise<void>;
  /**
   * At start-up, with the sessions the store remembers for this type: reap live resources that
   * belong to no stored session, and return the status each remembered session now has.
   */
  recover?(sessions: readonly SessionInfo[]): Promise<Map<string, string>>;
  createSession?(info: SessionInfo): Promise<H>;
  /** Brings back a remembered session whose handle was lost with the previous server process. */
  restoreSession?(info: SessionInfo): Promise<H>;
  /** Frees everything the session holds. `handle` is undefined when it was never restored. */
  destroySession?(info: SessionInfo, handle: H | undefined): Promise<void>;
  /** The server stops but keeps the session for the next start: let go of the live handle. */
  detachSession?(info: SessionInfo, handle: H): Promise<void>;
  /** Backend state to persist after a call (compared with the last persisted value). */
  sessionState?(handle: H): Record<string, unknown>;
  /**
   * Figures for `/metrics`, read at each scrape: `agentflow_backend_state{backend, state}`
   * (e.g. bash's warm pool: `pool_ready`, `pool_size`, `pool_hits`, `pool_misses`).
   */
  gauges?(): Record<string, number>;
  /** Releases backend-wide resources (worker pools, connections) when the server stops. */
  close?(): Promise<void>;
}

export interface BackendEnv {
  readonly dataDir: string;
  /** Identifies this data directory's server; marks processes so a later start can reap them. */
  readonly instanceId: string;
  readonly log: Logger;
  /** Files sessions must never see (the config file, which may hold keys). */
  readonly hiddenPaths: readonly string[];
  /** Host directories bash sessions are given to write (backends.bash.host_dirs), resolved. */
  readonly sessionWritable: readonly string[];
}

export interface BackendModule<C extends TSchema = TSchema, N extends string = string> {
  readonly name: N;
  /** This backend's section of the server config (`backends.<name>`); must accept `{}`. */
  readonly configSchema: C;
  /** null: the backend cannot run on this machine and stays off (vm without a Docker engine). */
  create(config: Static<C>, env: BackendEnv): Backend | null | Promise<Backend | null>;
}

export function defineBackendModule<C extends TSchema, const N extends string>(
  m: BackendModule<C, N>,
): BackendModule<C, N> {
  return m;
}
