// One action, start to finish: resolve the tool, validate its params, warm its backend, find the
// worker's session (or make a temporary one), run it under a deadline, and report meta.
import type { ToolContext } from '../backends/backend.ts';
import { callerOf, type Caller } from './auth.ts';
import {
  AgentFlowError,
  ExecutionCancelledError,
  ExecutionTimeoutError,
  InternalError,
  ParameterError,
} from './errors.ts';
import type { Gate } from './gate.ts';
import type { Session } from './session.ts';
import type { SessionManager } from './sessions.ts';
import type { RegisteredTool, ToolRegistry } from './tools.ts';
import type { WarmupManager } from './warmup.ts';

export interface ExecuteRequest {
  workerId: string;
  action: string;
  params?: unknown;
  /** Seconds; null/undefined means the configured default. */
  timeout?: number | null;
  /**
   * Who asks, set by the HTTP layer from the authenticated key. Absent: a caller with no scope
   * (never admin), so a path that forgets to set it fails closed.
   */
  caller?: Caller;
  /**
   * Aborted when the caller gives up (an MCP client's notifications/cancelled, or its closed
   * stream): the call is stopped as at its timeout, and answers 2002.
   */
  signal?: AbortSignal;
}

export interface ExecutionMeta {
  execution_time_ms: number;
  tool: string;
  resource_type: string;
  session_id: string | null;
  temporary_session: boolean;
  /** Params the tool does not take, dropped (only present when there were some). */
  ignored_params?: string[];
}

export interface ExecutionResult {
  data: unknown;
  meta: ExecutionMeta;
}

/** An error raised while executing, with the meta known at the point it failed. */
export class ExecutionFailure extends Error {
  constructor(
    readonly error: AgentFlowError,
    readonly meta: Partial<ExecutionMeta>,
    /** What was thrown, kept for the log when it was not one of ours (a 5000). */
    override readonly cause?: unknown,
  ) {
    super(error.message);
  }
}

export interface ExecutorOptions {
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  /**
   * How long past its stop deadline a handler may take to stop before the call is abandoned;
   * never past the call's answer deadline (see `callDeadlines`).
   */
  graceMs: number;
  /** Told of every finished call (metrics): full tool name, result code, seconds taken. */
  onCall?: (tool: string, code: number, seconds: number) => void;
}

/** Kept back at the very end of a call's time for its answer to be built and sent. */
export const ANSWER_RESERVE_MS = 25;

/**
 * Where a call with `timeoutMs` must stop and be answered, counted from its arrival. Upstream's
 * client gives its HTTP request the same timeout as the call and retries (re-running the call) when
 * no answer came within it, so the answer, a 2002 included, must be sent before the timeout runs
 * out: the backend is told to stop `stopMarginMs` early (5% of the timeout, 100 ms to 1 s, at
 * most half), which leaves it time to kill the work and report what it collected; a handler still
 * running `ANSWER_RESERVE_MS` before the end is abandoned.
 */
export function callDeadlines(
  arrival: number,
  timeoutMs: number,
  graceMs: number,
): { stopBy: number; abandonAt: number; answerBy: number } {
  const margin = Math.min(timeoutMs / 2, Math.max(100, Math.min(1000, timeoutMs * 0.05)));
  const answerBy = arrival + timeoutMs;
  const stopBy = answerBy - margin;
  const abandonAt = Math.max(stopBy, Math.min(stopBy + graceMs, answerBy - ANSWER_RESERVE_MS));
  return { stopBy, abandonAt, answerBy };
}

/** How far a call has got, and the temporary session it made (which the executor destroys). */
interface Progress {
  step: string;
  temporary?: Session;
}

export class Executor {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly sessions: SessionManager,
    private readonly warmup: WarmupManager,
    private readonly gate: Gate,
    private readonly options: ExecutorOptions,
  ) {}

  /** Validates a timeout given in seconds and returns milliseconds (1002 when out of range). */
  timeoutMs(timeout: number | null | undefined): number {
    if (timeout === null || timeout === undefined) return this.options.defaultTimeoutMs;
    const max = this.options.maxTimeoutMs / 1000;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > max) {
      throw new ParameterError(`timeout must be a number of seconds above 0 and at most ${max}`);
    }
    return Math.round(timeout * 1000);
  }

  async execute(req: ExecuteRequest): Promise<ExecutionResult> {
    const started = performance.now();
    const arrival = Date.now();
    const meta: Partial<ExecutionMeta> = { temporary_session: false, session_id: null };
    const release = this.gate.enter();
    /** Set when the answer leaves before the work ends: the work then releases the gate. */
    let releasedByWork = false;
    // The action as sent until it resolves: upstream's result formatter picks its formatter from
    // meta.tool (its `type:` prefix), so even a 1001 names the tool the caller meant.
    meta.tool = req.action;
    let resolvedName: string | undefined;
    try {
      const tool = this.registry.resolve(req.action);
      // The full name, as upstream's executor sends it (`rag:search`): its formatters dispatch on it.
      meta.tool = tool.fullName;
      meta.resource_type = tool.resourceType;
      resolvedName = tool.fullName;
      const deadlines = callDeadlines(arrival, this.timeoutMs(req.timeout), this.options.graceMs);
      const { params, ignored } = tool.parseParams(req.params ?? {});
      if (ignored.length > 0) meta.ignored_params = ignored;
      // The call's worker id is the one the caller acts for, whatever the HTTP layer filled in.
      const caller: Caller = req.caller
        ? { ...req.caller, workerId: req.workerId }
        : callerOf(undefined, req.workerId);
      // Warming the backend or creating a temporary session may outlast the timeout: the answer
      // does not wait for them (the work, once it gets there, finds its deadline passed).
      const made: Progress = { step: `warming up ${tool.resourceType}` };
      // One backstop for the whole call: at `abandonAt` the tool's signal is aborted and the call
      // answered 2002, wherever it is (warming, creating its session, queued or running).
      const abort = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      let cancel = noop;
      const deadline = new Promise<never>((_, reject) => {
        cancel = () => {
          abort.abort();
          reject(new ExecutionCancelledError(`${tool.fullName} was cancelled by its caller.`));
        };
        timer = setTimeout(
          () => {
            abort.abort();
            reject(
              new ExecutionTimeoutError(
                made.step === 'running'
                  ? `${tool.fullName} did not finish within its timeout and was abandoned.`
                  : `${tool.fullName} had not run when its timeout ran out: ${made.step} took ` +
                      'too long. Retry with a longer timeout.',
              ),
            );
          },
          Math.max(1, deadlines.abandonAt - Date.now()),
        );
      });
      if (req.signal?.aborted) cancel();
      req.signal?.addEventListener('abort', cancel, { once: true });
      const work = this.perform(tool, params, req.workerId, caller, deadlines, meta, made, abort);
      const stopTimer = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', cancel);
      };
      work.then(stopTimer, stopTimer);
      // Over when the tool has ended and its temporary session, if any, is destroyed.
      const finished = work
        .then(noop, noop)
        .then(() => (made.temporary ? this.sessions.finishTemporary(made.temporary) : undefined));
      let data: unknown;
      try {
        data = await Promise.race([work, deadline]);
      } finally {
        // The temporary session goes before the answer, unless waiting would make the answer
        // late: then it goes in the background, and holds the shutdown gate until it has.
        if (!(await settlesBy(finished, deadlines.abandonAt))) {
          releasedByWork = true;
          void finished.finally(release);
        }
      }
      meta.execution_time_ms = elapsed(started);
      this.options.onCall?.(tool.fullName, 0, meta.execution_time_ms / 1000);
      return { data, meta: meta as ExecutionMeta };
    } catch (err) {
      meta.execution_time_ms = elapsed(started);
      const error = toAgentFlowError(err);
      if (resolvedName) {
        this.options.onCall?.(resolvedName, error.code, meta.execution_time_ms / 1000);
      }
      throw new ExecutionFailure(error, { ...meta }, err);
    } finally {
      if (!releasedByWork) release();
    }
  }

  /**
   * Warms the backend, finds the worker's session (or makes a temporary one, left in `made` for
   * the caller to destroy) and runs the tool.
   */
  private async perform(
    tool: RegisteredTool,
    params: Record<string, unknown>,
    workerId: string,
    caller: Caller,
    deadlines: ReturnType<typeof callDeadlines>,
    meta: Partial<ExecutionMeta>,
    made: Progress,
    abort: AbortController,
  ): Promise<unknown> {
    await this.warmup.ensure(tool.resourceType);
    const session = this.sessions.get(workerId, tool.resourceType);
    made.step = 'running';
    if (!tool.needsSession) {
      // Shared backend: no queue; the worker's session, if any, only lends its config.
      if (session) {
        meta.session_id = session.id;
        this.sessions.touch(session);
      }
      return this.invoke(tool, params, session, caller, deadlines, abort.signal);
    }
    let s = session;
    if (!s) {
      made.step = 'creating its temporary session';
      s = made.temporary = await this.sessions.createTemporary(workerId, tool.resourceType);
      made.step = 'running';
      meta.temporary_session = true;
    }
    meta.session_id = s.id;
    const target = s;
    // A call still queued when it should be stopping never starts.
    return this.sessions.run(target, deadlines.stopBy, () =>
      this.invoke(tool, params, target, caller, deadlines, abort.signal),
    );
  }

  /** Runs the handler with the time left until its stop deadline (the backstop is execute's). */
  private invoke(
    tool: RegisteredTool,
    params: Record<string, unknown>,
    session: Session | undefined,
    caller: Caller,
    deadlines: ReturnType<typeof callDeadlines>,
    signal: AbortSignal,
  ): Promise<unknown> {
    const now = Date.now();
    if (now >= deadlines.stopBy) {
      // Its time went on warmup, session creation or the queue: do not start it at all.
      return Promise.reject(
        new ExecutionTimeoutError(`${tool.fullName} had no time left to run within its timeout.`),
      );
    }
    if (signal.aborted) {
      // Given up while it waited in the session's queue: it never starts.
      return Promise.reject(
        new ExecutionCancelledError(`${tool.fullName} was given up before it ran.`),
      );
    }
    const ctx: ToolContext<unknown> = {
      session: session?.handle,
      sessionId: session?.id ?? null,
      sessionConfig: session?.info.config ?? null,
      workerId: caller.workerId,
      caller,
      timeoutMs: Math.max(1, deadlines.stopBy - now),
      signal,
    };
    // Through a promise, so a handler that throws synchronously is a rejection like any other.
    return Promise.resolve().then(() => tool.definition.run(params, ctx));
  }
}

const noop = () => undefined;

/** Whether `promise` settles before the time `at` (ms since the epoch). */
function settlesBy(promise: Promise<unknown>, at: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, at - Date.now()));
  });
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/** Anything thrown that is not ours becomes a 5000 with its message (never a stack trace). */
export function toAgentFlowError(err: unknown): AgentFlowError {
  if (err instanceof AgentFlowError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(`Internal error: ${message}`);
}
