// Counts the calls under way so shutdown can stop taking new ones (5002) and wait for the rest.
import { ServiceUnavailableError } from './errors.ts';

export class Gate {
  private active = 0;
  private closed = false;
  private waiters: (() => void)[] = [];

  get closing(): boolean {
    return this.closed;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Throws 5002 once shutdown has begun. */
  assertOpen(): void {
    if (this.closed) {
      throw new ServiceUnavailableError(
        'The server is shutting down; retry on another server or after it restarts.',
      );
    }
  }

  /** Admits one call or throws 5002; the caller must call the returned release exactly once. */
  enter(): () => void {
    this.assertOpen();
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.active === 0) for (const w of this.waiters.splice(0)) w();
    };
  }

  close(): void {
    this.closed = true;
  }

  /** Resolves when no call is under way, or after `timeoutMs`; returns whether it drained. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
