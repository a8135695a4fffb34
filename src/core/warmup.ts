// Warmup orchestration: runs each backend's warmup once at a time, records per-backend
// {loaded, warmed_up, progress, error}, and lets a call on a cold backend wait for it (SPEC §5).
import type { Backend } from '../backends/backend.ts';
import { WarmupError } from './errors.ts';
import type { Logger } from './log.ts';
import { runWorkerTask } from './workers.ts';

export interface BackendWarmupStatus {
  loaded: boolean;
  warmed_up: boolean;
  progress?: number;
  detail?: string;
  error?: string;
  duration_ms?: number;
}

export interface WarmupOutcome {
  ok: boolean;
  duration_ms: number;
  error?: string;
}

interface Entry {
  backend: Backend;
  status: BackendWarmupStatus;
  running?: Promise<WarmupOutcome>;
}

export class WarmupManager {
  private readonly entries = new Map<string, Entry>();

  constructor(
    backends: readonly Backend[],
    private readonly log: Logger,
  ) {
    for (const backend of backends) {
      const warm = backend.warmup === undefined;
      this.entries.set(backend.name, {
        backend,
        status: { loaded: true, warmed_up: warm, ...(warm ? { progress: 1 } : {}) },
      });
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  status(): Record<string, BackendWarmupStatus> {
    return Object.fromEntries([...this.entries].map(([name, e]) => [name, { ...e.status }]));
  }

  /** How many backends there are and how many have warmed up (upstream's warmup `summary`). */
  summary(): { total: number; warmed_up: number; pending: number } {
    const total = this.entries.size;
    let warm = 0;
    for (const e of this.entries.values()) if (e.status.warmed_up) warm++;
    return { total, warmed_up: warm, pending: total - warm };
  }

  /** True when every backend has warmed up. */
  ready(): boolean {
    for (const e of this.entries.values()) if (!e.status.warmed_up) return false;
    return true;
  }

  /** Warms one backend; concurrent callers share the run under way. */
  warm(name: string): Promise<WarmupOutcome> {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`no backend named ${name}`);
    if (entry.status.warmed_up) {
      return Promise.resolve({ ok: true, duration_ms: entry.status.duration_ms ?? 0 });
    }
    entry.running ??= this.run(entry).finally(() => (entry.running = undefined));
    return entry.running;
  }

  private async run(entry: Entry): Promise<WarmupOutcome> {
    const { backend, status } = entry;
    const started = performance.now();
    delete status.error;
    status.progress = 0;
    this.log.info('warmup.started', { backend: backend.name });
    const setProgress = (fraction: number, detail?: string) => {
      status.progress = Math.max(0, Math.min(1, fraction));
      if (detail !== undefined) status.detail = detail;
    };
    try {
      await backend.warmup!({
        progress: ({ fraction, detail }) => setProgress(fraction, detail),
        runInWorker: (url, input) => runWorkerTask(url, input, setProgress),
      });
      status.duration_ms = Math.round(performance.now() - started);
      status.warmed_up = true;
      status.progress = 1;
      this.log.info('warmup.done', { backend: backend.name, duration_ms: status.duration_ms });
      return { ok: true, duration_ms: status.duration_ms };
    } catch (err) {
      status.duration_ms = Math.round(performance.now() - started);
      status.error = err instanceof Error ? err.message : String(err);
      this.log.error('warmup.failed', { backend: backend.name, error: status.error });
      return { ok: false, duration_ms: status.duration_ms, error: status.error };
    }
  }

  /** Before a call: returns at once when warm, else warms (2003 when that fails). */
  async ensure(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry || entry.status.warmed_up) return;
    const outcome = await this.warm(name);
    if (!outcome.ok) {
      throw new WarmupError(
        `Backend "${name}" failed to warm up: ${outcome.error}. Fix the cause and retry; ` +
          'GET /warmup/status shows the state.',
      );
    }
  }
}
