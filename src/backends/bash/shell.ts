// ShellSession: one persistent `bash --noprofile --norc` in its own process group. Each command is
// sent as one line that evals it and then prints a per-command marker with the exit status and
// working directory, so state (cd, export, functions) persists and no process is spawned per call.
import type { Subprocess } from 'bun';
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { BackendError, SessionStateError } from '../../core/errors.ts';
import { CappedOutput } from '../../core/capped-output.ts';
import { STDERR_TRAILER, STDOUT_TRAILER, StreamCapture } from './capture.ts';
import {
  descendantsOf,
  killAll,
  lastPid,
  processesOfCommand,
  type CommandStart,
  processesWithEnv,
  ticksSinceBoot,
} from './processes.ts';

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
  /** The argv before the shell (rlimits, sandbox). */
  prefix: () => string[];
  /** Whether kill() must hunt processes that left the shell's tree (no pid namespace). */
  sweepLeftovers: boolean;
  /** Set as AGENTFLOW_SESSION_ID: how processes that left the shell's tree are found. */
  sessionId: string;
  /** The host directory the shell process is started in (the workspace: it always exists). */
  home: string;
  /**
   * The environment the shell process starts with: fixed values of the server's choosing (marks,
   * HOME, PATH), so the host-side helpers before the shell run with nothing of the session's.
   */
  env: Record<string, string>;
  /** Variables the shell exports itself once it runs (operator's and session's config). */
  exports: Record<string, string>;
  /** Where the shell goes once it runs, in the session's own view of the filesystem. */
  cwd: string;
  outputLimit: number;
  /**
   * A shell from the warm pool: its workspace's real path inside the sandbox (`real`) and the
   * session's name for it (`shown`). A directory reached by the real path is reported (and kept,
   * for a restart or a respawn) under the session's name.
   */
  pathAlias?: { readonly real: string; readonly shown: string };
  /** Opens a descriptor the sandbox reads at start (its seccomp filter); passed as fd 3. */
  openStartFd?: () => number;
  /**
   * Called with the shell's processes right after the spawn (the first one) and again once the
   * shell is ready, before any command is sent (all of them): where they join the session's
   * cgroup.
   */
  onProcesses?: (pids: number[]) => void;
}

/** How many times a timeout looks again for processes a dying command forked meanwhile. */
const KILL_PASSES = 8;
/** How long a timed-out command's shell gets to report back after its children were killed. */
const SHELL_REPORT_GRACE_MS = 300;
/** How long a new shell (and its sandbox) may take to say it is ready. */
const SHELL_START_TIMEOUT_MS = 10_000;
const READY = Buffer.from('\x1f__AF_READY__');
/** The shell prints READY and its directory, NUL-terminated, once it has set itself up. */
const READY_LINE = `builtin printf '\\037__AF_READY__%s\\0' "$PWD"`;
/** Bytes a shell may print before it is ready (nothing, normally): more means it is broken. */
const MAX_PRE_READY = 64 * 1024;

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
  private strayOut: CappedOutput;
  private strayErr: CappedOutput;
  private exited = false;
  private readyState: 'waiting' | 'ready' = 'waiting';
  private preReady = Buffer.alloc(0);
  private readyWaiter: (() => void) | undefined;
  /** Set by kill(): the session is being destroyed or detached, not just this command. */
  private closed = false;
  cwd: string;

  constructor(
    private options: ShellOptions,
    startIn = options.cwd,
  ) {
    this.cwd = startIn;
    this.strayOut = new CappedOutput(options.outputLimit);
    this.strayErr = new CappedOutput(options.outputLimit);
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
    const { options } = this;
    const argv = [...options.prefix(), options.shell, '--noprofile', '--norc'];
    const extra = options.openStartFd?.();
    let proc: Subprocess<'pipe', 'pipe', 'pipe'>;
    try {
      proc = Bun.spawn(argv, {
        cwd: options.home,
        env: { ...options.env, AGENTFLOW_SESSION_ID: options.sessionId },
        stdio: ['pipe', 'pipe', 'pipe', ...(extra === undefined ? [] : [extra])],
        // Its own process group, so a command's children can be found and killed as a group.
        detached: true,
      }) as Subprocess<'pipe', 'pipe', 'pipe'>;
    } finally {
      if (extra !== undefined) closeSync(extra);
    }
    options.onProcesses?.([proc.pid]);
    proc.stdin.write(this.startLine());
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

  /**
   * The first line the shell reads: it exports the configured variables (so they exist only in
   * the shell, never in the helpers that start it), goes to its directory (the last one, else
   * the configured one, else the workspace), and defines the marker function. bash reads a pipe
   * one byte at a time, so the per-command line is kept short: the marker printing is defined
   * once here (read-only, and `builtin` so a command that redefines printf cannot break it); it
   * captures the command's status on entry. Then the shell says it is ready, with its directory:
   * a sandbox that failed to start never does (see started()).
   */
  private startLine(): string {
    // The usual umask inside (the server's own is 077).
    return (
      `umask 022; ${this.settingsLine({})}` +
      `__af_m() { local s=$?; builtin printf '\\037__AF_%s__%d %s\\0' "$1" "$s" "$PWD"; ` +
      `builtin printf '\\037__AF_%s__\\0' "$1" >&2; }; readonly -f __af_m; ` +
      `${READY_LINE}\n`
    );
  }

  /** Exports `first` then the configured variables, and goes to the session's directory. */
  private settingsLine(first: Record<string, string>): string {
    const exports = Object.entries({ ...first, ...this.options.exports })
      .map(([name, value]) => `export ${name}=${ansiCQuote(value)}; `)
      .join('');
    const dirs = [...new Set([this.cwd, this.options.cwd, this.options.home])]
      .map((dir) => `builtin cd -- ${ansiCQuote(dir)} 2>/dev/null`)
      .join(' || ');
    return `${exports}${dirs}; `;
  }

  /**
   * Hands a ready shell from the warm pool to its session: from now on it is that session's
   * shell (a respawn starts one with these options). What was fixed at its start (sandbox,
   * uid, limits) is the same for every session; the rest is applied here, in one line: the
   * variables that differ (HOME, the session id …) and the session's own, then its directory.
   * With `confirm`, it says it is ready again, from there (see started()).
   */
  adopt(options: ShellOptions, confirm: boolean): void {
    const changed: Record<string, string> = { AGENTFLOW_SESSION_ID: options.sessionId };
    for (const [name, value] of Object.entries(options.env)) {
      if (this.options.env[name] !== value) changed[name] = value;
    }
    this.options = options;
    this.cwd = options.cwd;
    // Confirmed: the shell says where it went before the first command is sent (a configured
    // cwd must be checked). Else the line just goes first; the first command's marker says.
    if (confirm) {
      this.readyState = 'waiting';
      this.preReady = Buffer.alloc(0);
    }
    try {
      // OLDPWD would name the pool's directory: a fresh shell has none.
      const ready = confirm ? ` ${READY_LINE}` : '';
      this.proc.stdin.write(`${this.settingsLine(changed)}unset OLDPWD;${ready}\n`);
      this.proc.stdin.flush();
    } catch {
      // It died while pooled: started() finds it gone and starts the session's own shell.
      this.exited = true;
    }
  }

  /** A directory as the session knows it (see ShellOptions.pathAlias). */
  private shown(dir: string): string {
    const alias = this.options.pathAlias;
    if (!alias || !(dir === alias.real || dir.startsWith(`${alias.real}/`))) return dir;
    return alias.shown + dir.slice(alias.real.length);
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
      const end = at < 0 ? -1 : this.preReady.indexOf(0, at + READY.length);
      if (end < 0) {
        if (this.preReady.length > MAX_PRE_READY) this.killShell(false);
        return;
      }
      this.cwd = this.shown(this.preReady.subarray(at + READY.length, end).toString('utf8'));
      this.options.onProcesses?.([this.proc.pid, ...descendantsOf(this.proc.pid)]);
      this.readyState = 'ready';
      this.readyWaiter?.();
      const rest = this.preReady.subarray(end + 1);
      this.preReady = Buffer.alloc(0);
      if (rest.length === 0) return;
      chunk = rest;
    }
    const p = this.pending;
    const stray = which === 'out' ? this.strayOut : this.strayErr;
    if (!p) {
      // Output between commands (background jobs) goes to the next command, capped like it.
      stray.push(chunk);
      return;
    }
    const capture = which === 'out' ? p.out : p.err;
    const rest = capture.push(chunk);
    if (rest) stray.push(rest);
    if (p.out.done !== undefined && p.err.done !== undefined) p.settle();
  }

  /** Runs one command; never rejects for the command's own failures. */
  async run(command: string, timeoutMs: number, signal?: AbortSignal): Promise<RunResult> {
    if (this.pending) throw new Error('ShellSession.run called while a command is running');
    if (this.closed) throw new SessionStateError('The session was destroyed.');
    if (this.exited) this.respawn();
    await this.started();
    const started = performance.now();
    // Two random values: the mark every process of the command inherits (how a timeout finds
    // them; the command can see it), and the nonce of the end marker, which appears only in the
    // line the shell reads, neither in the command's environment nor in any argv.
    const random = randomBytes(21).toString('base64url');
    const mark = random.slice(0, 12);
    const nonce = random.slice(12);
    const marker = `\x1f__AF_${nonce}__`;
    // Where the pid counter stood: a timeout tells the command's unmarked processes from older
    // ones by it (see processesOfCommand). One small read, a few microseconds.
    const pidBefore = lastPid();
    const out = new StreamCapture(Buffer.from(marker), this.options.outputLimit, STDOUT_TRAILER);
    const err = new StreamCapture(Buffer.from(marker), this.options.outputLimit, STDERR_TRAILER);
    let settle!: () => void;
    const finished = new Promise<void>((resolve) => (settle = resolve));
    this.pending = { out, err, settle };
    if (!this.strayOut.empty) out.push(this.strayOut.take());
    if (!this.strayErr.empty) err.push(this.strayErr.take());

    // AGENTFLOW_COMMAND marks every process this command starts (a temporary assignment: it
    // does not persist in the shell), so a timeout kills those, not earlier background jobs.
    // `</dev/null` keeps the command from reading the protocol stream. The eval stays at
    // top level so `declare`, `local` errors and `return` behave as in a plain shell; __af_m
    // prints the status and $PWD after the marker, NUL-terminated (a path may hold any byte).
    const line = `AGENTFLOW_COMMAND=${mark} eval ${ansiCQuote(command)} </dev/null;__af_m ${nonce}\n`;
    try {
      this.proc.stdin.write(line);
      this.proc.stdin.flush();
    } catch {
      this.exited = true;
      settle();
    }

    let timedOut = false;
    // The deadline, or the caller giving up first (its signal): the command is stopped alike.
    const stop = () => {
      if (timedOut) return;
      timedOut = true;
      const since = { tick: ticksSinceBoot(performance.now() - started), lastPid: pidBefore };
      void this.interrupt(mark, since, finished);
    };
    const timer = setTimeout(stop, timeoutMs);
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
    await finished;
    clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
    this.pending = undefined;

    let exitCode: number | null = null;
    if (out.done !== undefined) {
      const space = out.done.indexOf(' ');
      exitCode = Number(out.done.slice(0, space));
      this.cwd = this.shown(out.done.slice(space + 1));
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
   * Stops a command past its deadline: kill every process it started (its mark, or no mark and
   * started since it began); if the shell itself is still busy (a builtin loop) after a short
   * grace, kill it too — the next command respawns it.
   */
  private async interrupt(mark: string, since: CommandStart, finished: Promise<void>) {
    // In a sandbox every process of the session stays in the shell's tree (bash is the pid
    // namespace's init). Without one, a command's daemons may have left it: those are found
    // machine-wide by their mark. A command that keeps forking (a fork bomb) is swept again
    // until nothing of it is left, a bounded number of times.
    for (let pass = 0; pass < KILL_PASSES; pass++) {
      const victims = processesOfCommand(descendantsOf(this.proc.pid), mark, since);
      if (this.options.sweepLeftovers) {
        victims.push(...processesWithEnv('AGENTFLOW_COMMAND', mark));
      }
      if (victims.length === 0) break;
      killAll(victims);
    }
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
      const said = this.strayErr.text().trim().slice(0, 2000);
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
    this.strayOut = new CappedOutput(this.options.outputLimit);
    this.strayErr = new CappedOutput(this.options.outputLimit);
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
