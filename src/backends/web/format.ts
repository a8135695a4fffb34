// Results as the text upstream's web tools answer (its agents are prompted on it): numbered
// markdown links per query, queries joined by "=======", image hits in a fenced block.
import type { Hit, ImageHit } from './providers.ts';

export function searchText(query: string, hits: Hit[], engine: string): string {
  if (hits.length === 0) return `No results found for '${query}'. Try with a more general query.`;
  const items = hits.map((h, i) => {
    const date = h.date ? `\nDate published: ${h.date}` : '';
    const source = h.source ? `\nSource: ${h.source}` : '';
    const snippet = h.snippet ? `\n${h.snippet}` : '';
    return `${i + 1}. [${h.title}](${h.link})${date}${source}\n${snippet}`;
  });
  return (
    `A ${engine} search for '${query}' found ${hits.length} results:\n\n## Web Results\n` +
    items.join('\n\n')
  );
}

export function imageText(hits: ImageHit[]): string {
  const lines = hits.slice(0, 3).flatMap((h) => {
    if (h.imageUrl) return [`Image: ${h.imageUrl}, Title: ${h.title}, Webpage URL: ${h.link}`];
    if (h.title) return [`Title: ${h.title}, Webpage URL: ${h.link}`];
    return [];
  });
  return lines.length ? '```\n' + lines.join('\n\n') + '\n```' : '';
}
