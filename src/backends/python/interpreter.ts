// PythonInterpreter: one long-lived `python3` running driver.py inside a session's sandbox, spoken
// to in frames (4-byte big-endian length + JSON) over its stdin/stdout, which the driver moves to
// private descriptors before any user code runs. A call past its deadline is interrupted (SIGINT:
// the state survives) and, when that does not end it quickly, killed with its sandbox; the next
// call then starts a fresh interpreter and says so.
import type { Subprocess } from 'bun';
import { closeSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { BackendError, SessionStateError } from '../../core/errors.ts';
import { CappedOutput } from '../../core/capped-output.ts';
import DRIVER_SOURCE from './driver.py' with { type: 'text' };
import { descendantsOf, killAll } from '../bash/processes.ts';

export interface InterpreterOptions {
  python: string;
  /** The argv before python (rlimits, sandbox). */
  prefix: () => string[];
  env: Record<string, string>;
  /** The host directory the process starts in (the workspace). */
  home: string;
  /** Opens a descriptor the sandbox reads at start (its seccomp filter); passed as fd 3. */
  openStartFd?: () => number;
  /** Called with the sandbox's processes once started: where they join the session's cgroup. */
  onProcesses?: (pids: number[]) => void;
}

export interface CellError {
  name: string;
  value: string;
  traceback: string;
}

export interface CellReply {
  stdout: string;
  stderr: string;
  result: string | null;
  error: CellError | null;
  images: string[];
  truncated: boolean;
  vars?: Record<string, string>;
}

export interface Hello {
  python: string;
  packages: Record<string, boolean>;
}

export type Outcome =
  | { kind: 'reply'; reply: CellReply; restarted: boolean }
  /** Past the deadline: `reply` when SIGINT ended it (state kept), else it was killed. */
  | { kind: 'timeout'; reply?: CellReply; restarted: boolean }
  | { kind: 'died'; status: string; stderr: string; restarted: boolean };

/**
 * How long an interrupted call gets to answer before the interpreter is killed: short, as it
 * comes out of the executor's stop margin (100 ms for short calls), and the signal goes out that
 * much before the deadline. Python code answers a SIGINT at its next bytecode; C code that does
 * not is killed.
 */
const INTERRUPT_GRACE_MS = 40;
const START_TIMEOUT_MS = 20_000;
/** A reply larger than this is not the driver speaking (user code wrote onto the protocol). */
const MAX_FRAME = 128 * 1024 * 1024;

type Frame = Record<string, unknown>;

export class PythonInterpreter {
  private proc: Subprocess<'pipe', 'pipe', 'pipe'> | undefined;
  private frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private buffer = Buffer.alloc(0);
  private stderr = new CappedOutput(64 * 1024);
  private driverPid: number | undefined;
  private closed = false;
  /** Set when the previous interpreter was lost: the next call reports a fresh start. */
  private lost = false;
  hello: Hello | undefined;

  /** `restored`: the session outlived its interpreter (a server restart): say so on first use. */
  constructor(
    private readonly options: InterpreterOptions,
    restored = false,
  ) {
    this.lost = restored;
  }

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the interpreter (when it is not running) and waits for the driver's hello. */
  async start(): Promise<Hello> {
    if (this.closed) throw new SessionStateError('The session was destroyed.');
    if (this.hello && this.alive) return this.hello;
    this.spawn();
    const hello = await this.next(START_TIMEOUT_MS);
    if (!hello || hello.ready !== true) {
      const said = this.stderr.text().trim().slice(0, 2000);
      this.killProcess();
      throw new BackendError(
        `The Python interpreter did not start${said ? `: ${said}` : ' in time'}. Check ` +
          'backends.python.python and that the sandbox works (GET /warmup/status).',
      );
    }
    const proc = this.proc!;
    const tree = [proc.pid, ...descendantsOf(proc.pid)];
    this.options.onProcesses?.(tree);
    this.driverPid = tree.find((pid) => isDriver(pid, this.options.python)) ?? proc.pid;
    this.hello = { python: String(hello.python), packages: hello.packages as Hello['packages'] };
    return this.hello;
  }

  private spawn(): void {
    const { options } = this;
    const extra = options.openStartFd?.();
    this.frames = [];
    this.buffer = Buffer.alloc(0);
    this.stderr = new CappedOutput(64 * 1024);
    this.hello = undefined;
    let proc: Subprocess<'pipe', 'pipe', 'pipe'>;
    try {
      proc = Bun.spawn([...options.prefix(), options.python, '-c', DRIVER_SOURCE], {
        cwd: options.home,
        env: options.env,
        stdio: ['pipe', 'pipe', 'pipe', ...(extra === undefined ? [] : [extra])],
        // Its own process group: a kill takes the sandbox and everything in it.
        detached: true,
      }) as Subprocess<'pipe', 'pipe', 'pipe'>;
    } finally {
      if (extra !== undefined) closeSync(extra);
    }
    this.proc = proc;
    options.onProcesses?.([proc.pid]);
    void this.pump(proc, proc.stdout, (chunk) => this.onBytes(chunk));
    void this.pump(proc, proc.stderr, (chunk) => this.stderr.push(chunk));
    void proc.exited.then(() => {
      if (this.proc === proc) this.waiter?.();
    });
  }

  private async pump(
    proc: Subprocess,
    stream: ReadableStream<Uint8Array>,
    take: (chunk: Uint8Array) => void,
  ): Promise<void> {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.proc !== proc) return;
        take(value);
      }
    } catch {
      // the pipe closed under us: the process is gone, exited reports it
    }
  }

  private onBytes(chunk: Uint8Array): void {
    this.buffer =
      this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (length > MAX_FRAME) {
        this.killProcess();
        return;
      }
      if (this.buffer.length < 4 + length) return;
      const body = this.buffer.subarray(4, 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(4 + length);
      try {
        this.frames.push(JSON.parse(body) as Frame);
      } catch {
        // Not the driver's JSON: the protocol is broken, so is the interpreter.
        this.killProcess();
        return;
      }
      this.waiter?.();
    }
  }

  /** The next frame, or undefined when the process died or `ms` passed. */
  private async next(ms: number): Promise<Frame | undefined> {
    const deadline = performance.now() + ms;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) return frame;
      const left = deadline - performance.now();
      if (!this.alive || left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Runs one cell; never rejects for the code's own failures. */
  async run(
    request: { code: string; vars?: string[]; scratch?: boolean },
    timeoutMs: number,
  ): Promise<Outcome> {
    const restarted = this.lost || (this.proc !== undefined && !this.alive);
    await this.start();
    this.lost = false;
    const body = Buffer.from(JSON.stringify(request));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    try {
      this.proc!.stdin.write(header);
      this.proc!.stdin.write(body);
      this.proc!.stdin.flush();
    } catch {
      // the process is gone: next() sees it
    }
    const reply = await this.next(Math.max(timeoutMs - INTERRUPT_GRACE_MS, timeoutMs / 2));
    if (this.closed) {
      throw new SessionStateError(
        'The session was destroyed (or the server stopped) while the code ran; it was killed.',
      );
    }
    if (reply) return { kind: 'reply', reply: reply as unknown as CellReply, restarted };
    if (this.alive) return this.interrupt(restarted);
    const proc = this.proc!;
    await proc.exited;
    const status = exitStatus(proc.signalCode, proc.exitCode);
    this.lost = true;
    return { kind: 'died', status, stderr: this.stderr.text().trim(), restarted };
  }

  /** SIGINT first (KeyboardInterrupt keeps the namespace); the whole sandbox if that fails. */
  private async interrupt(restarted: boolean): Promise<Outcome> {
    const pid = this.driverPid!;
    // Children the code started (a subprocess it waits on) would keep it blocked.
    killAll(descendantsOf(pid));
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // gone already
    }
    const reply = await this.next(INTERRUPT_GRACE_MS);
    if (reply && this.alive) {
      return { kind: 'timeout', reply: reply as unknown as CellReply, restarted };
    }
    this.killProcess();
    this.lost = true;
    return { kind: 'timeout', restarted };
  }

  private killProcess(): void {
    const proc = this.proc;
    if (!proc) return;
    // Until its exit is seen the process still looks alive: start() must not reuse it.
    this.hello = undefined;
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }

  /** Ends the interpreter (its next start has other mounts, say); the next call says so. */
  reset(): void {
    this.lost ||= this.proc !== undefined;
    this.killProcess();
  }

  /** Kills the interpreter and its sandbox for good. */
  kill(): void {
    this.closed = true;
    this.killProcess();
    this.waiter?.();
  }
}

/** bwrap's init reports a signal that ended the program as 128 + its number, as a shell does. */
function exitStatus(signal: NodeJS.Signals | number | null, code: number | null): string {
  if (signal !== null) return `killed by ${signal}`;
  const name = Object.entries(constants.signals).find(([, n]) => n === (code ?? 0) - 128)?.[0];
  return name ? `killed by ${name}, exit status ${code}` : `exit status ${code}`;
}

/** The sandbox's helpers carry the same argv after their own: the driver is where it starts. */
function isDriver(pid: number, python: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`${python}\0-c\0`);
  } catch {
    return false;
  }
}
