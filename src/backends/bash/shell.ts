// ShellSession: one persistent `bash --noprofile --norc` in its own process group. Each command is
// sent as one line that evals it and then prints a per-command marker with the exit status and
// working directory, so state (cd, export, functions) persists and no process is spawned per call.
import type { Subprocess } from 'bun';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { BackendError, SessionStateError } from '../../core/errors.ts';
import { StreamCapture } from './capture.ts';
import { descendantsOf, killAll, processesWithEnv } from './processes.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
  exit_code: number | null;
  timed_out: boolean;
  truncated: boolean;
  cwd: string;
  duration_ms: number;
}

export interface ShellOptions {
  shell: string;
  /** The argv before the shell (sandbox, rlimits) for a shell starting in `cwd`. */
  prefix: (cwd: string) => string[];
  /** Whether kill() must hunt processes that left the shell's tree (no pid namespace). */
  sweepLeftovers: boolean;
  /** Exported as AGENTFLOW_SESSION_ID: how processes that left the shell's tree are found. */
  sessionId: string;
  /** Where the shell starts, and where it restarts when its last directory is gone. */
  cwd: string;
  env: Record<string, string>;
  outputLimit: number;
}

/** How long a timed-out command's shell gets to report back after its children were killed. */
const SHELL_REPORT_GRACE_MS = 300;
/** How long a new shell (and its sandbox) may take to say it is ready. */
const SHELL_START_TIMEOUT_MS = 10_000;
const READY_TEXT = '\\037__AF_READY__\\0';
const READY = Buffer.from('\x1f__AF_READY__\0');

interface Pending {
  out: StreamCapture;
  err: StreamCapture;
  settle: () => void;
}

/** Quotes text as a bash ANSI-C string ($'...'), safe for any input without NUL bytes. */
export function ansiCQuote(text: string): string {
  return (
    "$'" +
    text.replace(/[\\'\x00-\x1f\x7f]/g, (c) => {
      if (c === '\\' || c === "'") return '\\' + c;
      return '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0');
    }) +
    "'"
  );
}

export class ShellSession {
  private proc: Subprocess<'pipe', 'pipe', 'pipe'>;
  private pending: Pending | undefined;
  /** Output that arrived between commands (background jobs); given to the next command. */
  private strayOut: Buffer[] = [];
  private strayErr: Buffer[] = [];
  private exited = false;
  private readyState: 'waiting' | 'ready' = 'waiting';
  private preReady = Buffer.alloc(0);
  private readyWaiter: (() => void) | undefined;
  /** Set by kill(): the session is being destroyed or detached, not just this command. */
  private closed = false;
  cwd: string;

  constructor(
    private readonly options: ShellOptions,
    startIn = options.cwd,
  ) {
    this.cwd = startIn;
    this.proc = this.spawn();
  }

  get pid(): number {
    return this.proc.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  private spawn(): Subprocess<'pipe', 'pipe', 'pipe'> {
    this.exited = false;
    // A restored session starts where it left off, unless that directory is gone.
    if (!existsSync(this.cwd)) this.cwd = this.options.cwd;
    const argv = [...this.options.prefix(this.cwd), this.options.shell, '--noprofile', '--norc'];
    const proc = Bun.spawn(argv, {
      cwd: this.cwd,
      env: { ...this.options.env, AGENTFLOW_SESSION_ID: this.options.sessionId },
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      // Its own process group, so a command's children can be found and killed as a group.
      detached: true,
    });
    // bash reads a pipe one byte at a time, so the per-command line is kept short: the marker
    // printing is a function defined once here (read-only, and `builtin` so a command that
    // redefines printf cannot break it). It captures the command's status on entry.
    // Then it says it is ready: a sandbox that failed to start never does (see started()).
    proc.stdin.write(
      `__af_m() { local s=$?; builtin printf '\\037__AF_%s__%d %s\\0' "$1" "$s" "$PWD"; ` +
        `builtin printf '\\037__AF_%s__\\0' "$1" >&2; }; readonly -f __af_m; ` +
        `builtin printf '${READY_TEXT}'\n`,
    );
    this.readyState = 'waiting';
    this.preReady = Buffer.alloc(0);
    const pumps = Promise.all([this.pump(proc.stdout, 'out'), this.pump(proc.stderr, 'err')]);
    void proc.exited.then(async () => {
      // Let the pipes drain first, but not for long: a background child may hold them open.
      await Promise.race([pumps, Bun.sleep(50)]);
      if (this.proc !== proc) return;
      this.exited = true;
      this.readyWaiter?.();
      // `exit` in a command, or a kill from outside: the command is over; report what we have.
      this.pending?.settle();
    });
    return proc;
  }

  private async pump(stream: ReadableStream<Uint8Array>, which: 'out' | 'err'): Promise<void> {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.deliver(which, value);
      }
    } catch {
      // the pipe closed under us: the shell is gone, proc.exited reports it
    }
  }

  private deliver(which: 'out' | 'err', chunk: Uint8Array): void {
    if (which === 'out' && this.readyState === 'waiting') {
      // Nothing runs before the ready marker, so it is the first thing on stdout.
      this.preReady = Buffer.concat([this.preReady, chunk]);
      const at = this.preReady.indexOf(READY);
      if (at < 0) return;
      this.readyState = 'ready';
      this.readyWaiter?.();
      const rest = this.preReady.subarray(at + READY.length);
      this.preReady = Buffer.alloc(0);
      if (rest.length === 0) return;
      chunk = rest;
    }
    const p = this.pending;
    const stray = which === 'out' ? this.strayOut : this.strayErr;
    if (!p) {
      if (stray.reduce((n, b) => n + b.length, 0) < this.options.outputLimit) {
        stray.push(Buffer.from(chunk));
      }
      return;
    }
    const capture = which === 'out' ? p.out : p.err;
    const rest = capture.push(chunk);
    if (rest) stray.push(rest);
    if (p.out.done !== undefined && p.err.done !== undefined) p.settle();
  }

  /** Runs one command; never rejects for the command's own failures. */
  async run(command: string, timeoutMs: number): Promise<RunResult> {
    if (this.pending) throw new Error('ShellSession.run called while a command is running');
    if (this.closed) throw new SessionStateError('The session was destroyed.');
    if (this.exited) this.respawn();
    await this.started();
    const started = performance.now();
    const nonce = randomBytes(9).toString('base64url');
    const marker = `\x1f__AF_${nonce}__`;
    const out = new StreamCapture(Buffer.from(marker), this.options.outputLimit);
    const err = new StreamCapture(Buffer.from(marker), this.options.outputLimit);
    let settle!: () => void;
    const finished = new Promise<void>((resolve) => (settle = resolve));
    this.pending = { out, err, settle };
    for (const b of this.strayOut.splice(0)) out.push(b);
    for (const b of this.strayErr.splice(0)) err.push(b);

    // AGENTFLOW_COMMAND marks every process this command starts (a temporary assignment: it
    // does not persist in the shell), so a timeout kills exactly those, not earlier background
    // jobs. `</dev/null` keeps the command from reading the protocol stream. The eval stays at
    // top level so `declare`, `local` errors and `return` behave as in a plain shell; __af_m
    // prints the status and $PWD after the marker, NUL-terminated (a path may hold any byte).
    const line = `AGENTFLOW_COMMAND=${nonce} eval ${ansiCQuote(command)} </dev/null;__af_m ${nonce}\n`;
    try {
      this.proc.stdin.write(line);
      this.proc.stdin.flush();
    } catch {
      this.exited = true;
      settle();
    }

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void this.interrupt(nonce, finished);
    }, timeoutMs);
    await finished;
    clearTimeout(timer);
    this.pending = undefined;

    let exitCode: number | null = null;
    if (out.done !== undefined) {
      const space = out.done.indexOf(' ');
      exitCode = Number(out.done.slice(0, space));
      this.cwd = out.done.slice(space + 1);
    } else if (this.exited) {
      exitCode = this.proc.exitCode ?? (timedOut ? 137 : null);
    }
    const result: RunResult = {
      stdout: out.text(),
      stderr: err.text(),
      exit_code: exitCode,
      timed_out: timedOut,
      truncated: out.truncated || err.truncated,
      cwd: this.cwd,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
    };
    if (this.closed) {
      throw new SessionStateError(
        'The session was destroyed (or the server stopped) while the command ran; it was killed.',
        result,
      );
    }
    return result;
  }

  /**
   * Stops a command past its deadline: kill every process it started; if the shell itself is
   * still busy (a builtin loop) after a short grace, kill it too — the next command respawns it.
   */
  private async interrupt(nonce: string, finished: Promise<void>): Promise<void> {
    // In a sandbox every process of the session stays in the shell's tree (bash is the pid
    // namespace's init), so only that tree is searched; without one, a command's daemons may
    // have left it and the whole machine is.
    const candidates = this.options.sweepLeftovers ? undefined : descendantsOf(this.proc.pid);
    killAll(processesWithEnv('AGENTFLOW_COMMAND', nonce, candidates));
    const reported = await Promise.race([
      finished.then(() => true),
      Bun.sleep(SHELL_REPORT_GRACE_MS).then(() => false),
    ]);
    if (!reported) {
      this.killShell(false);
      this.exited = true;
      this.pending?.settle();
    }
  }

  /**
   * Kills the shell's process group. In a sandbox that is all it takes: the sandbox dies with
   * its bwrap parent and takes its pid namespace along. Without one, daemonised leftovers
   * (setsid, double fork) keep the session's mark and are swept off the request path, since
   * reading every process's environment takes a few milliseconds.
   */
  private killShell(sweep: boolean): void {
    const pid = this.proc.pid;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    if (sweep && this.options.sweepLeftovers) {
      const id = this.options.sessionId;
      setTimeout(() => killAll(processesWithEnv('AGENTFLOW_SESSION_ID', id)), 0);
    }
  }

  /**
   * Resolves once the shell has said it is ready. A shell that dies first (bwrap failing to set
   * up its mounts, say) is started once more; if that fails too, the call answers 2001 with
   * what the shell printed, rather than running nothing and calling it a success.
   */
  async started(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.readyState === 'waiting' && !this.exited) {
        await new Promise<void>((resolve) => {
          this.readyWaiter = resolve;
          setTimeout(resolve, SHELL_START_TIMEOUT_MS);
        });
        this.readyWaiter = undefined;
      }
      if (this.readyState === 'ready' && !this.exited) return;
      const said = Buffer.concat(this.strayErr).toString('utf8').trim().slice(0, 2000);
      if (attempt >= 2 || this.closed) {
        throw new BackendError(
          `The session's shell did not start${said ? `: ${said}` : ' in time'}.`,
        );
      }
      this.respawn();
    }
  }

  private respawn(): void {
    // No sweep by the session's mark here: it would take the new shell down too.
    this.killShell(false);
    this.strayOut = [];
    this.strayErr = [];
    this.proc = this.spawn();
  }

  /** Kills the shell and everything it started, including processes that left its tree. */
  kill(): void {
    this.closed = true;
    this.exited = true;
    this.killShell(true);
    try {
      this.proc.stdin.end();
    } catch {
      // already closed
    }
  }
}
