// Python sessions for the python and ds backends: each session an interpreter in the bash sandbox
// (its own workspace, uid, cgroup slot), the warmup that proves one starts there and reports which
// data-science packages it has, and one cell's outcome turned into a result or an error.
import { Type as t } from '@sinclair/typebox';
import { existsSync } from 'node:fs';
import type { Backend, BackendEnv, SessionInfo, WarmupContext } from '../backend.ts';
import { BackendError, ExecutionTimeoutError, WarmupError } from '../../core/errors.ts';
import {
  ProgramSandbox,
  sandboxSettings,
  type SandboxSettings,
  type SandboxedSession,
} from '../bash/session-sandbox.ts';
import { killAll, processesWithEnv } from '../bash/processes.ts';
import { PythonInterpreter, type CellReply, type Hello } from './interpreter.ts';

const DEFAULT_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export function pythonSettings(firstUid: number) {
  return {
    // Off unless configured: the default start stays bash and rag (SPEC §7).
    enabled: t.Boolean({ default: false }),
    python: t.String({
      default: DEFAULT_PYTHON,
      minLength: 1,
      description: 'The Python 3 binary sessions run (Debian’s, with its python3-* packages)',
    }),
    output_limit_bytes: t.Integer({
      default: 1024 * 1024,
      minimum: 1024,
      description: 'Bytes kept per stream (stdout, stderr) per call; the rest is cut',
    }),
    ...sandboxSettings(firstUid),
  };
}

export interface PythonConfig extends SandboxSettings {
  python: string;
  output_limit_bytes: number;
}

export interface PythonHandle {
  interpreter: PythonInterpreter;
  sandbox: SandboxedSession;
  /** Extra read-only mounts the interpreter starts with (ds: the seed folder). */
  mounts: string[];
}

export interface CellResult {
  stdout: string;
  stderr: string;
  result: string | null;
  error: CellReply['error'];
  images: string[];
  truncated: boolean;
  /** The interpreter was started afresh for this call: what earlier calls defined is gone. */
  restarted: boolean;
  duration_ms: number;
}

export const cellResult = t.Object({
  stdout: t.String(),
  stderr: t.String(),
  result: t.Union([t.String(), t.Null()], { description: 'repr of the last expression' }),
  error: t.Union([
    t.Object({ name: t.String(), value: t.String(), traceback: t.String() }),
    t.Null(),
  ]),
  images: t.Array(t.String(), { description: 'base64 PNG of each matplotlib figure left open' }),
  truncated: t.Boolean(),
  restarted: t.Boolean({
    description: 'A fresh interpreter ran this call: variables of earlier calls are gone',
  }),
  duration_ms: t.Number(),
});

const PACKAGES = ['pandas', 'numpy', 'matplotlib', 'scipy'];

export class PythonSessions {
  readonly sandbox: ProgramSandbox;
  /** What the warmup interpreter had: the python version and which packages it finds. */
  hello: Hello | undefined;

  constructor(
    private readonly name: string,
    private readonly config: PythonConfig,
    private readonly env: BackendEnv,
  ) {
    this.sandbox = new ProgramSandbox(name, config, env);
  }

  /** A Backend's session hooks, the same for every resource type built on these sessions. */
  lifecycle(): Pick<
    Backend<PythonHandle>,
    | 'warmup'
    | 'recover'
    | 'createSession'
    | 'restoreSession'
    | 'destroySession'
    | 'detachSession'
    | 'close'
  > {
    return {
      warmup: (ctx) => this.warmup(ctx),
      recover: async (stored) => this.recover(stored),
      createSession: async (info) => this.open(info),
      restoreSession: async (info) => this.open(info, true),
      destroySession: async (info, handle) => this.destroy(info.sessionId, handle),
      detachSession: async (_info, handle) => this.detach(handle),
      close: () => this.sandbox.close(),
    };
  }

  async warmup(ctx: WarmupContext): Promise<void> {
    await this.sandbox.warmup(ctx);
    // One interpreter started exactly as a session's: a broken python fails here, not later.
    const id = `.warmup-${process.pid}`;
    const handle = this.open({ sessionId: id } as SessionInfo);
    try {
      this.hello = await handle.interpreter.start();
    } catch (err) {
      throw new WarmupError(
        `The ${this.name} backend cannot start Python: ${(err as Error).message}`,
      );
    } finally {
      this.destroy(id, handle);
    }
    const packages = PACKAGES.map((p) => `${p} ${this.hello!.packages[p] ? 'yes' : 'no'}`);
    const detail = `${this.sandbox.summary}; python ${this.hello.python}; ${packages.join(', ')}`;
    ctx.progress({ fraction: 1, detail });
    this.env.log.info(`${this.name}.ready`, { detail });
  }

  open(info: Pick<SessionInfo, 'sessionId'>, restored = false): PythonHandle {
    const sandbox = this.sandbox.open(info.sessionId);
    const { workspace } = sandbox;
    const handle: PythonHandle = { sandbox, mounts: [], interpreter: undefined! };
    handle.interpreter = new PythonInterpreter(
      {
        python: this.config.python,
        prefix: () => sandbox.prefix(handle.mounts),
        env: {
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
          LANG: 'C.UTF-8',
          HOME: workspace,
          USER: 'agent',
          TERM: 'dumb',
          MPLBACKEND: 'Agg',
          MPLCONFIGDIR: `${workspace}/.matplotlib`,
          PYTHONDONTWRITEBYTECODE: '1',
          AGENTFLOW_WORKSPACE: workspace,
          AGENTFLOW_OUTPUT_LIMIT: String(this.config.output_limit_bytes),
          ...sandbox.marks,
        },
        home: workspace,
        ...(sandbox.openStartFd ? { openStartFd: sandbox.openStartFd } : {}),
        ...(sandbox.onProcesses ? { onProcesses: sandbox.onProcesses } : {}),
      },
      restored,
    );
    return handle;
  }

  destroy(sessionId: string, handle: PythonHandle | undefined): void {
    handle?.interpreter.kill();
    if (this.sandbox.isolation !== 'bwrap') {
      // No pid namespace: what the code daemonised left the process group; its mark finds it.
      setTimeout(() => killAll(processesWithEnv('AGENTFLOW_SESSION_ID', sessionId)), 0);
    }
    this.sandbox.release(sessionId, handle?.sandbox);
  }

  detach(handle: PythonHandle): void {
    handle.interpreter.kill();
    this.sandbox.detach(handle.sandbox);
  }

  recover(sessions: readonly SessionInfo[]): Map<string, string> {
    this.sandbox.recover(new Set(sessions.map((s) => s.sessionId)));
    return new Map(sessions.map((s) => [s.sessionId, 'restored']));
  }
}

/** Runs one cell; a timeout answers 2002 and a dead interpreter 2001, with what is known. */
export async function runCell(
  handle: PythonHandle,
  request: { code: string; vars?: string[]; scratch?: boolean },
  timeoutMs: number,
): Promise<CellResult & { vars?: Record<string, string> }> {
  const started = performance.now();
  const outcome = await handle.interpreter.run(request, timeoutMs);
  const duration_ms = Math.round((performance.now() - started) * 100) / 100;
  const empty = { stdout: '', stderr: '', result: null, error: null, images: [], truncated: false };
  const { restarted } = outcome;
  if (outcome.kind === 'reply') return { ...outcome.reply, restarted, duration_ms };
  const seconds = Math.round(timeoutMs / 100) / 10;
  if (outcome.kind === 'timeout') {
    const kept = outcome.reply !== undefined;
    const data = { ...(outcome.reply ?? empty), restarted, duration_ms, state_kept: kept };
    throw new ExecutionTimeoutError(
      kept
        ? `The code ran past its ${seconds}s timeout and was interrupted (KeyboardInterrupt); ` +
            'the interpreter kept its variables.'
        : `The code ran past its ${seconds}s timeout and did not stop when interrupted: the ` +
            'interpreter was killed. The next call starts a fresh one (variables and imports ' +
            'are lost).',
      data,
    );
  }
  const said = outcome.stderr ? ` It said: ${outcome.stderr.slice(-1000)}` : '';
  throw new BackendError(
    `The Python interpreter died while running the code (${outcome.status}): its variables ` +
      `and imports are lost, and the next call starts a fresh interpreter.${said}`,
    { ...empty, restarted, duration_ms, exit: outcome.status },
  );
}
