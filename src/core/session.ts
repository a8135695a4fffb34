// One session: what the core knows of it, its live handle, and the FIFO queue that makes calls on
// it run one at a time (each bounded by its own deadline, counted from its arrival).
import type { Backend, SessionInfo } from '../backends/backend.ts';
import { ExecutionTimeoutError } from './errors.ts';

export interface SessionView {
  session_id: string;
  session_name: string;
  worker_id: string;
  resource_type: string;
  status: string;
  temporary: boolean;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  /** Upstream's names: `last_used_at` again, and whether the server made it for one call. */
  last_activity: string;
  auto_created: boolean;
}

export class Session {
  handle: unknown = undefined;
  inFlight = 0;
  destroyed = false;
  /** Settles when the previous queued call has finished; the FIFO queue is this chain. */
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private running = 0;

  constructor(
    readonly info: SessionInfo & { state: Record<string, unknown> },
    readonly backend: Backend,
    public status: string,
    readonly createdAt: number,
    public lastUsedAt: number,
    public expiresAt: number,
    /** The state JSON last written to the store, to skip writes when nothing changed. */
    public persistedState: string,
  ) {}

  get id(): string {
    return this.info.sessionId;
  }

  /**
   * Runs `fn` after every call queued before it. A call still waiting when `deadline` passes
   * answers 2002 at once and is skipped when its turn comes.
   */
  enqueue<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
    const ahead = this.waiting + this.running;
    this.waiting++;
    let abandoned = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<T> => {
      this.waiting--;
      if (abandoned) throw new ExecutionTimeoutError('abandoned while waiting');
      clearTimeout(timer);
      this.running++;
      try {
        return await fn();
      } finally {
        this.running--;
      }
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abandoned = true;
        reject(
          new ExecutionTimeoutError(
            `Timed out waiting for session ${this.id}: ${ahead} earlier call(s) were queued or ` +
              'running. Calls on one session run one at a time; raise the timeout or use another session.',
          ),
        );
      }, deadline - Date.now());
    });
    return Promise.race([result, expired]);
  }

  view(): SessionView {
    const lastUsed = new Date(this.lastUsedAt).toISOString();
    return {
      session_id: this.info.sessionId,
      session_name: this.info.sessionName,
      worker_id: this.info.workerId,
      resource_type: this.info.resourceType,
      status: this.status,
      temporary: this.info.temporary,
      created_at: new Date(this.createdAt).toISOString(),
      last_used_at: lastUsed,
      expires_at: new Date(this.expiresAt).toISOString(),
      last_activity: lastUsed,
      auto_created: this.info.temporary,
    };
  }
}
