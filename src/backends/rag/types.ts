// Shapes shared by the main thread, the pool workers and the build worker of the rag backend.

/** A document as it is stored and returned. */
export interface StoredDocument {
  id: string;
  title?: string;
  content: string;
  metadata?: Record<string, unknown>;
}

export type SearchMode = 'bm25' | 'dense' | 'hybrid';

export interface SearchResult {
  id: string;
  score: number;
  title?: string;
  content: string;
  metadata?: Record<string, unknown>;
}

export interface SearchAnswer {
  results: SearchResult[];
  context: string;
}

/** What a worker error means to the caller; the main thread turns it into the AgentFlow error. */
export type ErrorKind = 'param' | 'backend' | 'warmup' | 'capacity' | 'internal';

/** Raised inside workers; crosses the thread boundary as {kind, message}. */
export class RagError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}
