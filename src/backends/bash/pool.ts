// The warm pool: sandboxed shells started ahead of need, so a new or temporary session skips the
// sandbox's start (bubblewrap, setpriv, cgroup and seccomp setup: most of a temporary call's
// time). Each pooled shell has its own workspace, uid and cgroup slot already; the backend hands
// one to a session by renaming the workspace and letting the shell adopt the session's settings.
// A shell leaves the pool once and never returns to it.
import type { Logger } from '../../core/log.ts';
import type { ShellSession } from './shell.ts';

export interface PooledShell {
  readonly shell: ShellSession;
  /** The pool's name for it: its workspace's directory name and its cgroup key until taken. */
  readonly token: string;
  /** Its workspace on the host while pooled. */
  readonly workspace: string;
  readonly uid?: number;
}

export interface ShellPoolOptions {
  /** Shells kept ready; 0 turns the pool off. */
  readonly size: number;
  /** Starts one pooled shell and resolves once it is ready. */
  readonly start: () => Promise<PooledShell>;
  /** Frees a pooled shell that will never be used (drain, failed start). */
  readonly discard: (shell: PooledShell) => void;
  readonly log: Logger;
}

/** After a failed start, the pool waits this long before it tries again (doubling, capped). */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;
/** How long after a shell is taken the pool starts its replacement. */
const REFILL_DELAY_MS = 10;

export class ShellPool {
  private readonly ready: PooledShell[] = [];
  private starting: Promise<void> | undefined;
  private retryMs = RETRY_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refillTimer: ReturnType<typeof setTimeout> | undefined;
  private open = false;
  /** Served from the pool, and started cold because it was empty (for /metrics). */
  hits = 0;
  misses = 0;

  constructor(private readonly options: ShellPoolOptions) {}

  get size(): number {
    return this.options.size;
  }

  /** Shells ready to hand out now. */
  get available(): number {
    return this.ready.length;
  }

  /** Starts filling (once the backend has warmed up and reaped what a previous run left). */
  start(): void {
    if (this.options.size <= 0) return;
    this.open = true;
    this.refill();
  }

  /** A ready shell, or undefined (the pool is off, empty or draining): start one cold. */
  take(): PooledShell | undefined {
    if (!this.open) return undefined;
    let taken: PooledShell | undefined;
    while ((taken = this.ready.shift()) !== undefined && !taken.shell.alive) {
      this.options.discard(taken);
    }
    if (taken) this.hits++;
    else this.misses++;
    // Not now: starting a shell spawns a process, which blocks this thread for milliseconds,
    // and the call that took this one is still on its way to its answer.
    if (!this.refillTimer) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = undefined;
        this.refill();
      }, REFILL_DELAY_MS);
      this.refillTimer.unref();
    }
    return taken;
  }

  /**
   * One shell at a time, off the request path: a start costs a few milliseconds of CPU, and
   * several at once would slow the calls that are running.
   */
  private refill(): void {
    if (!this.open || this.starting || this.retryTimer) return;
    if (this.ready.length >= this.options.size) return;
    this.starting = this.options
      .start()
      .then((shell) => {
        this.retryMs = RETRY_MS;
        if (this.open) this.ready.push(shell);
        else this.options.discard(shell);
      })
      .catch((err: unknown) => {
        this.options.log.warn('bash.pool_start_failed', {
          error: String(err),
          retry_in_ms: this.retryMs,
        });
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.refill();
        }, this.retryMs);
        this.retryTimer.unref();
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
      })
      .finally(() => {
        this.starting = undefined;
        this.refill();
      });
  }

  /** The server stops: no more starts, and every pooled shell is freed. */
  async drain(): Promise<void> {
    this.open = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.retryTimer = this.refillTimer = undefined;
    await this.starting;
    for (const shell of this.ready.splice(0)) this.options.discard(shell);
  }
}
