// Turns user text into an FTS5 MATCH expression that can never be a syntax error: the text is cut
// into word tokens and each is a quoted string, so quotes, AND/OR/NOT/NEAR, `*`, `-`, `^`, `:` and
// parentheses are plain text. FTS5 applies the index tokenizer (stemming, diacritics) inside quotes.

/** Letters, digits and combining marks; everything else separates words (as unicode61 does). */
const WORD = /[\p{L}\p{N}\p{M}\p{Co}]+/gu;
const HAS_WORD_CHAR = /[\p{L}\p{N}\p{Co}]/u;

/** The distinct word tokens of a query, lower-cased, in order, at most `maxTerms`. */
export function queryTerms(query: string, maxTerms = 32): string[] {
  const seen = new Set<string>();
  for (const m of query.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const term = m[0];
    if (!HAS_WORD_CHAR.test(term) || seen.has(term)) continue;
    seen.add(term);
    if (seen.size >= maxTerms) break;
  }
  return [...seen];
}

/** One quoted FTS5 string per term, any of which may match (BM25 ranks by how many and how rare). */
export function matchExpression(terms: readonly string[]): string {
  return terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(' OR ');
}
