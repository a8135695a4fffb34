// The main-thread side of the text2sql query threads (query-worker.ts): a request goes to an idle
// thread, or waits for one. A thread whose call was abandoned (the executor's backstop fired
// before SQLite's own interrupt) is terminated and replaced, so nothing keeps running unseen.
import { workerUrl } from '../../core/workers.ts';
import type { QueryReply, QueryRequest } from './query-worker.ts';

const CLAIMED = () => undefined;

interface Slot {
  worker: Worker;
  busy: ((reply: QueryReply) => void) | null;
}

export class QueryPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: ((slot: Slot) => void)[] = [];
  private nextId = 1;
  private closed = false;

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(workerUrl('backends/text2sql/query-worker.ts').href);
    worker.unref();
    const slot: Slot = { worker, busy: null };
    worker.onmessage = (ev: MessageEvent<QueryReply>) => {
      const done = slot.busy;
      slot.busy = null;
      done?.(ev.data);
      this.release(slot);
    };
    const died = (why: string) => this.replace(slot, why);
    worker.onerror = (ev: ErrorEvent) => died(ev.message);
    worker.addEventListener('close', () => died('it exited'));
    return slot;
  }

  private replace(slot: Slot, why: string): void {
    const i = this.slots.indexOf(slot);
    if (i === -1) return;
    const done = slot.busy;
    slot.busy = null;
    slot.worker.terminate();
    done?.({ id: 0, ok: false, kind: 'internal', message: `a query thread stopped (${why})` });
    if (this.closed) return;
    const fresh = this.spawn();
    this.slots[i] = fresh;
    this.release(fresh);
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (!next) return;
    slot.busy = CLAIMED;
    next(slot);
  }

  private acquire(): Promise<Slot> {
    const idle = this.slots.find((s) => s.busy === null);
    if (idle) {
      idle.busy = CLAIMED;
      return Promise.resolve(idle);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Runs one request; when `signal` aborts first, the thread is replaced and the call rejected. */
  async run(req: QueryRequest, signal: AbortSignal): Promise<QueryReply> {
    if (this.closed) return { id: 0, ok: false, kind: 'internal', message: 'the pool is closed' };
    const slot = await this.acquire();
    return new Promise<QueryReply>((resolve) => {
      const onAbort = () => this.replace(slot, 'its call was abandoned');
      slot.busy = (reply) => {
        signal.removeEventListener('abort', onAbort);
        resolve(reply);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      slot.worker.postMessage({ id: this.nextId++, req });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) s.worker.terminate();
  }
}
