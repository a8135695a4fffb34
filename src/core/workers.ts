// Worker-thread tasks: the server side starts a worker for one task and collects its answer; the
// worker side (serveTask) wraps a function. Backends use this for warmups and heavy work so the
// HTTP loop never blocks. Worker files are named `*-worker.ts` and located with workerUrl() so
// the compiled binary finds them too (see NOTES-MACHINE.md).

export type TaskMessage =
  | { type: 'progress'; fraction: number; detail?: string }
  | { type: 'result'; value: unknown }
  | { type: 'error'; message: string };

export function runWorkerTask<T>(
  url: URL,
  input: unknown,
  onProgress?: (fraction: number, detail?: string) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(url.href);
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      worker.terminate();
      fn();
    };
    worker.onmessage = (ev: MessageEvent<TaskMessage>) => {
      const msg = ev.data;
      if (msg.type === 'progress') onProgress?.(msg.fraction, msg.detail);
      else if (msg.type === 'result') finish(() => resolve(msg.value as T));
      else finish(() => reject(new Error(msg.message)));
    };
    worker.onerror = (ev: ErrorEvent) =>
      finish(() => reject(new Error(`worker ${url.pathname} failed: ${ev.message}`)));
    worker.addEventListener('close', () =>
      finish(() => reject(new Error(`worker ${url.pathname} exited before answering`))),
    );
    worker.postMessage(input);
  });
}

declare const self: Worker;

/** Worker side: answers the first message with `fn`'s result, reporting progress on the way. */
export function serveTask<I, O>(
  fn: (input: I, progress: (fraction: number, detail?: string) => void) => O | Promise<O>,
): void {
  self.onmessage = async (ev: MessageEvent<I>) => {
    const post = (m: TaskMessage) => self.postMessage(m);
    try {
      const value = await fn(ev.data, (fraction, detail) =>
        post({ type: 'progress', fraction, detail }),
      );
      post({ type: 'result', value });
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  };
}

/**
 * Where worker entry files are: src/ in development; in a compiled binary, the bundle's root,
 * where `bun build --compile` keeps entry points at their paths relative to src/ (see
 * scripts/build-binary.ts, which adds every `*-worker.ts` as an entry point).
 */
const SRC_ROOT = import.meta.url.includes('/$bunfs/')
  ? new URL('./', import.meta.url)
  : new URL('../', import.meta.url);

/** The URL of a worker entry file given by its path under src/, e.g. `backends/bash/probe-worker.ts`. */
export function workerUrl(pathFromSrc: string): URL {
  return new URL(pathFromSrc, SRC_ROOT);
}
