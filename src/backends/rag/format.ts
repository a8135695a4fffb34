// The `context` string of a search answer: the results as one block of text, in the upstream
// server's layout (`[title]` line, then the content; results separated by `---` lines).
import type { SearchResult } from './types.ts';

export const NO_RESULTS = 'No documents found.';

export function contextOf(results: readonly SearchResult[]): string {
  if (results.length === 0) return NO_RESULTS;
  return results.map((r) => (r.title ? `[${r.title}]\n${r.content}` : r.content)).join('\n---\n');
}
