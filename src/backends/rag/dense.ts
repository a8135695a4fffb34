// Dense retrieval: an index's vectors held in one Float32Array per worker, exact top-k by dot
// product (vectors are unit length), and reciprocal-rank fusion for hybrid search. Exact search
// costs n×d multiply-adds per query: ~40 ms for 1M×384 is the ceiling this design accepts.
import type { Hit, IndexStore } from './store.ts';

export class VectorMatrix {
  dims = 0;
  count = 0;
  private data = new Float32Array(0);
  private rowids = new Float64Array(0);
  private maxRowid = 0;

  /** Drops everything (after a change that was not an append: a replaced or cleared vector). */
  reset(): void {
    this.dims = 0;
    this.count = 0;
    this.maxRowid = 0;
    this.data = new Float32Array(0);
    this.rowids = new Float64Array(0);
  }

  /** Appends the vectors stored after the last one loaded. */
  loadNew(store: IndexStore): void {
    const rows = store.vectorsAfter(this.maxRowid);
    if (rows.length === 0) return;
    const dims = rows[0]!.v.byteLength / 4;
    if (this.dims === 0) this.dims = dims;
    this.reserve(this.count + rows.length);
    const bytes = new Uint8Array(this.data.buffer);
    for (const r of rows) {
      // A vector of another length cannot be compared; rag:index refuses them, so skip silently.
      if (r.v.byteLength !== this.dims * 4) continue;
      bytes.set(r.v, this.count * this.dims * 4);
      this.rowids[this.count] = r.rowid;
      this.count++;
      this.maxRowid = r.rowid;
    }
  }

  private reserve(n: number): void {
    if (n * this.dims <= this.data.length) return;
    const cap = Math.max(n, Math.ceil(this.rowids.length * 1.5), 1024);
    const data = new Float32Array(cap * this.dims);
    data.set(this.data.subarray(0, this.count * this.dims));
    const rowids = new Float64Array(cap);
    rowids.set(this.rowids.subarray(0, this.count));
    this.data = data;
    this.rowids = rowids;
  }

  /** The k rows most similar to `q` (cosine), best first. */
  topK(q: Float32Array, k: number): Hit[] {
    const d = this.dims;
    if (q.length !== d || this.count === 0) return [];
    const scores: number[] = [];
    const ids: number[] = [];
    let min = -Infinity;
    const data = this.data;
    for (let i = 0, off = 0; i < this.count; i++, off += d) {
      let s = 0;
      for (let j = 0; j < d; j++) s += data[off + j]! * q[j]!;
      if (scores.length < k || s > min) {
        // Insertion into a short sorted list (k is at most a few hundred).
        let p = scores.length < k ? scores.length : k - 1;
        if (scores.length < k) {
          scores.push(s);
          ids.push(i);
        }
        while (p > 0 && scores[p - 1]! < s) {
          scores[p] = scores[p - 1]!;
          ids[p] = ids[p - 1]!;
          p--;
        }
        scores[p] = s;
        ids[p] = i;
        if (scores.length === k) min = scores[k - 1]!;
      }
    }
    return scores.map((score, i) => ({ rowid: this.rowids[ids[i]!]!, score }));
  }
}

/** Reciprocal-rank fusion: each list adds 1/(k + rank) for every row it holds (rank from 1). */
export function fuse(lists: readonly Hit[][], k: number, limit: number): Hit[] {
  const scores = new Map<number, number>();
  for (const list of lists) {
    list.forEach((h, i) => scores.set(h.rowid, (scores.get(h.rowid) ?? 0) + 1 / (k + i + 1)));
  }
  return [...scores]
    .map(([rowid, score]) => ({ rowid, score }))
    .sort((a, b) => b.score - a.score || a.rowid - b.rowid)
    .slice(0, limit);
}
