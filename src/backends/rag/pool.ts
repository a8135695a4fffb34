// The main-thread side of the rag worker pool: a few long-lived worker threads (search-worker.ts), each
// with its own SQLite handles. A request goes to the worker with the fewest requests in flight;
// writes all go to worker 0 so they never wait on each other's locks. A worker that dies is
// replaced, and the requests it held fail with 2001.
import {
  AgentFlowError,
  BackendError,
  ParameterError,
  ResourceUnavailableError,
  WarmupError,
} from '../../core/errors.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './search-worker.ts';
import { workerUrl } from '../../core/workers.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

function toError(kind: string, message: string): AgentFlowError {
  switch (kind) {
    case 'param':
      return new ParameterError(message);
    case 'warmup':
      return new WarmupError(message);
    case 'capacity':
      return new ResourceUnavailableError(message);
    default:
      return new BackendError(message);
  }
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    size: number,
    private readonly init: WorkerInit,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(workerUrl('backends/rag/search-worker.ts').href);
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.onmessage = (ev: MessageEvent<WorkerReply>) => {
      const reply = ev.data;
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(toError(reply.kind, reply.message));
    };
    const died = (why: string) => this.replace(slot, why);
    worker.onerror = (ev: ErrorEvent) => died(ev.message);
    worker.addEventListener('close', () => died('it exited'));
    this.post(slot, { op: 'init', init: this.init }).catch(() => undefined);
    return slot;
  }

  private replace(slot: Slot, why: string): void {
    const i = this.slots.indexOf(slot);
    if (i === -1) return;
    for (const p of slot.pending.values()) {
      p.reject(new BackendError(`A rag search worker stopped (${why}); retry the call.`));
    }
    slot.pending.clear();
    if (this.closed) return;
    this.slots[i] = this.spawn();
  }

  private post(slot: Slot, req: WorkerRequest): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, req });
    });
  }

  /** Sends a request to the least busy worker (or to worker `pin`). */
  request<T>(req: WorkerRequest, pin?: number): Promise<T> {
    if (this.closed) return Promise.reject(new BackendError('The rag worker pool is closed.'));
    let slot = this.slots[pin ?? 0]!;
    if (pin === undefined) {
      for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    }
    return this.post(slot, req) as Promise<T>;
  }

  /** Sends the same request to every worker. */
  broadcast(req: WorkerRequest): Promise<unknown[]> {
    return Promise.all(this.slots.map((s) => this.post(s, req)));
  }

  get size(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let each worker close its SQLite handles (a WAL checkpoint), but never wait long for it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.broadcast({ op: 'close' }).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
    ]);
    clearTimeout(timer);
    this.closed = true;
    for (const s of this.slots) s.worker.terminate();
  }
}
