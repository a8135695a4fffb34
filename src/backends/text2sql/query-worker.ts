// A text2sql query thread: holds one read-only connection per database it has been asked about
// and answers one request at a time. Queries run here, never on the HTTP loop, so a statement
// that runs until its deadline keeps only this thread busy.
import { ReadOnlyConnection, SqlError, type QueryResult } from './sqlite-ffi.ts';

export type QueryRequest =
  { op: 'query'; path: string; sql: string; maxRows: number; timeoutMs: number } | { op: 'close' };

export type QueryReply =
  | { id: number; ok: true; value: QueryResult | null }
  | { id: number; ok: false; kind: SqlError['kind'] | 'internal'; message: string };

declare const self: Worker;

const connections = new Map<string, ReadOnlyConnection>();

function connection(path: string): ReadOnlyConnection {
  let c = connections.get(path);
  if (!c) {
    c = new ReadOnlyConnection(path);
    connections.set(path, c);
  }
  return c;
}

self.onmessage = (ev: MessageEvent<{ id: number; req: QueryRequest }>) => {
  const { id, req } = ev.data;
  try {
    if (req.op === 'close') {
      for (const c of connections.values()) c.close();
      connections.clear();
      self.postMessage({ id, ok: true, value: null } satisfies QueryReply);
      return;
    }
    const value = connection(req.path).query(req.sql, req.maxRows, req.timeoutMs);
    self.postMessage({ id, ok: true, value } satisfies QueryReply);
  } catch (err) {
    if (err instanceof SqlError && err.kind === 'unavailable') {
      // A file that could not be opened may appear later: try afresh next time.
      connections.get(req.op === 'query' ? req.path : '')?.close();
      if (req.op === 'query') connections.delete(req.path);
    }
    const reply: QueryReply =
      err instanceof SqlError
        ? { id, ok: false, kind: err.kind, message: err.message }
        : { id, ok: false, kind: 'internal', message: (err as Error).message };
    self.postMessage(reply);
  }
};
