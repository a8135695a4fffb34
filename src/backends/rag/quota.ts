// Size quotas of an index (max_documents, max_bytes of stored text), checked before rag:index
// writes anything: a call that would grow the index past either is refused whole (2004). A
// replaced document counts its new size minus the old; a call that does not grow the index (or
// shrinks it) passes even over the limit, so an admin can still fix content.
import { storedBytes, type IndexStore } from './store.ts';
import { RagError, type StoredDocument } from './types.ts';

export interface Quota {
  documents: number;
  bytes: number;
  /** The config keys to raise, named in the refusal. */
  documentsKey: string;
  bytesKey: string;
}

export interface Usage {
  documents: number;
  bytes: number;
}

/** What writing `docs` would add to the index (a repeated id: its last copy wins). */
export function growth(store: IndexStore, docs: readonly StoredDocument[]): Usage {
  const byId = new Map(docs.map((d) => [d.id, d]));
  const old = store.storedBytesOf([...byId.keys()]);
  const delta: Usage = { documents: 0, bytes: 0 };
  for (const [id, doc] of byId) {
    const before = old.get(id);
    if (before === undefined) delta.documents++;
    delta.bytes += storedBytes(doc) - (before ?? 0);
  }
  return delta;
}

/** Throws a 'capacity' RagError (2004) when `delta` would take the index past its quota. */
export function enforceQuota(index: string, quota: Quota, usage: Usage, delta: Usage): void {
  const over = (what: string, have: number, add: number, limit: number, key: string) =>
    new RagError(
      'capacity',
      `Index "${index}" is full: it holds ${have} ${what} and this call would add ${add}, over ` +
        `its limit of ${limit} (${key}). Nothing was written. Raise the limit in the config, ` +
        'or replace documents by id instead of adding new ones.',
    );
  if (delta.documents > 0 && usage.documents + delta.documents > quota.documents) {
    throw over('documents', usage.documents, delta.documents, quota.documents, quota.documentsKey);
  }
  if (delta.bytes > 0 && usage.bytes + delta.bytes > quota.bytes) {
    throw over('bytes of text', usage.bytes, delta.bytes, quota.bytes, quota.bytesKey);
  }
}

/**
 * An index's size, summed once and then kept up to date by the writer: only the pool's write
 * worker changes an index while it is served, and SQLite's data_version (which moves only for
 * other connections' commits) says when the sum must be taken again.
 */
export class UsageMeter {
  private cached: { version: number; usage: Usage } | null = null;

  constructor(private readonly store: IndexStore) {}

  current(): Usage {
    const version = this.store.dataVersion();
    if (this.cached?.version !== version) this.cached = { version, usage: this.store.usage() };
    return { ...this.cached.usage };
  }

  /** After this connection committed `delta`. */
  wrote(delta: Usage): void {
    if (!this.cached) return;
    this.cached.usage.documents += delta.documents;
    this.cached.usage.bytes += delta.bytes;
  }
}
