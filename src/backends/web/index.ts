// The web backend: upstream's web tools (search, visit, image_search, reverse_image_search)
// through the providers the config names. Shared: a session only exists so upstream's
// `session/create` for web keeps working; every call runs without one.
import { Type as t } from '@sinclair/typebox';
import type { Backend } from '../backend.ts';
import { defineBackendModule, defineTool } from '../backend.ts';
import { AgentFlowError, BackendError, WarmupError } from '../../core/errors.ts';
import { webConfigSchema, type WebConfig } from './config.ts';
import { readableText } from './extract.ts';
import { imageText, searchText } from './format.ts';
import { fetchPage, pageUrl } from './guarded-fetch.ts';
import * as providers from './providers.ts';
import type { Limits } from './transport.ts';

const PAGE_HEADERS = {
  'User-Agent': 'agentflow-server web:visit',
  Accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5',
};

const text = (description: string, max = 4096) =>
  t.String({ minLength: 1, maxLength: max, description });
const list = (item: ReturnType<typeof text>, description: string) =>
  t.Union([t.Array(item, { minItems: 1, maxItems: 20 }), item], { description });

/** Runs `each` over `items` at most `width` at a time, keeping order. */
async function inParallel<I, O>(
  items: I[],
  width: number,
  each: (i: I) => Promise<O>,
): Promise<O[]> {
  const out: O[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await each(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return out;
}

type Outcome = { ok: true; text: string } | { ok: false; error: AgentFlowError };
const settle = async (f: () => Promise<string>): Promise<Outcome> => {
  try {
    return { ok: true, text: await f() };
  } catch (err) {
    const error = err instanceof AgentFlowError ? err : new BackendError((err as Error).message);
    return { ok: false, error };
  }
};

/** When every item failed: the first failure's kind (a refusal stays 1002), all messages. */
function allFailed(what: string, failures: { item: string; error: AgentFlowError }[]): never {
  const first = failures[0]!.error;
  const detail = failures.map((f) => `${f.item}: ${f.error.message}`).join('; ');
  const Kind = first.constructor as new (message: string) => AgentFlowError;
  throw new Kind(failures.length === 1 ? first.message : `Every ${what} failed: ${detail}`);
}

export default defineBackendModule({
  name: 'web',
  configSchema: webConfigSchema,
  create(config: WebConfig): Backend {
    const limits = (ctx: { timeoutMs: number; signal: AbortSignal }): Limits => ({
      timeoutMs: Math.min(ctx.timeoutMs, config.request_timeout_seconds * 1000),
      maxBytes: config.max_response_bytes,
      signal: ctx.signal,
    });
    const needSerper = (tool: string) => {
      if (!config.serper_api_key) {
        throw new WarmupError(
          `${tool} needs a Serper API key: set backends.web.serper_api_key (upstream: ` +
            'apis.websearch.serper_api_key)',
        );
      }
    };
    const searchEngine = (): [string, typeof providers.serperSearch] => {
      if (config.serper_api_key) return ['Google', providers.serperSearch];
      if (config.searxng_url) return ['SearXNG', providers.searxngSearch];
      throw new WarmupError(
        'web:search has no search provider: set backends.web.serper_api_key (upstream: ' +
          'apis.websearch.serper_api_key) or backends.web.searxng_url',
      );
    };
    const useReader = () => {
      if (config.visit_method === 'jina' && !config.jina_api_key) {
        throw new WarmupError(
          'web:visit with visit_method "jina" needs a reader key: set backends.web.jina_api_key ' +
            '(upstream: apis.websearch.jina_api_key), or visit_method "direct"',
        );
      }
      return (
        config.visit_method === 'jina' || (config.visit_method === 'auto' && !!config.jina_api_key)
      );
    };
    const summarizing = config.enable_llm_summary && !!config.summary_model;

    const visitOne = async (
      url: string,
      goal: string,
      ctx: { timeoutMs: number; signal: AbortSignal },
    ) => {
      let content: string;
      if (useReader()) {
        pageUrl(url);
        content = await providers.jinaRead(config, url, limits(ctx));
      } else {
        const page = await fetchPage(
          url,
          { allowPrivate: config.allow_private_addresses, maxRedirects: config.max_redirects },
          limits(ctx),
          PAGE_HEADERS,
        );
        if (page.status >= 400) throw new BackendError(`${url} answered HTTP ${page.status}`);
        content = readableText(page.body, page.headers.get('content-type') ?? '', page.url);
        if (page.truncated) content += `\n...[Truncated at ${config.max_response_bytes} bytes]`;
      }
      if (content.length > config.content_limit) {
        content = `${content.slice(0, config.content_limit)}\n...[Truncated]`;
      }
      if (summarizing) return providers.summarize(config, content, goal, url, limits(ctx));
      return `Content from ${url}:\n\n${content}`;
    };

    return {
      name: 'web',
      description:
        'Web search and page reading through the providers the operator configured (Serper or ' +
        'SearXNG; the Jina reader or a direct, SSRF-guarded fetch), with optional LLM summaries.',
      shared: true,
      sessionConfig: t.Object({}, { additionalProperties: false }),
      tools: [
        defineTool({
          name: 'search',
          description: 'Perform batched web searches and return top results for each query.',
          params: t.Object({
            query: list(
              text('One search query', 1024),
              'Array of query strings. Include multiple complementary search queries in a single call.',
            ),
          }),
          async run({ query }, ctx) {
            const [engine, search] = searchEngine();
            const queries = typeof query === 'string' ? [query] : query;
            const outcomes = await inParallel(queries, 5, (q) =>
              settle(async () => searchText(q, await search(config, q, limits(ctx)), engine)),
            );
            const failures = outcomes.flatMap((o, i) =>
              o.ok ? [] : [{ item: queries[i]!, error: o.error }],
            );
            if (failures.length === queries.length) allFailed('query', failures);
            let result = outcomes.flatMap((o) => (o.ok ? [o.text] : [])).join('\n=======\n');
            if (failures.length) {
              result +=
                '\n\nErrors encountered:\n' +
                failures.map((f) => `Query '${f.item}' failed: ${f.error.message}`).join('\n');
            }
            return { result, query };
          },
        }),
        defineTool({
          name: 'visit',
          description: 'Visit web pages and extract relevant content based on the goal.',
          params: t.Object({
            urls: list(text('An http(s) URL'), 'Array of URLs to visit and extract content from.'),
            goal: text('The goal or purpose for content extraction.', 8192),
          }),
          async run({ urls, goal }, ctx) {
            const list = typeof urls === 'string' ? [urls] : urls;
            const outcomes = await inParallel(list, 5, (u) => settle(() => visitOne(u, goal, ctx)));
            const failures = outcomes.flatMap((o, i) =>
              o.ok ? [] : [{ item: list[i]!, error: o.error }],
            );
            if (failures.length === list.length) allFailed('URL', failures);
            let result = outcomes
              .flatMap((o) => (o.ok ? [o.text] : []))
              .map((r, i) => `${i + 1}. ${r}`)
              .join('\n\n');
            if (failures.length) {
              result +=
                '\n\n**Failed URLs:**\n' +
                failures.map((f) => `- ${f.item}: ${f.error.message}`).join('\n');
            }
            return {
              result,
              urls,
              goal,
              warning: failures.length ? `${failures.length}/${list.length} URLs failed` : null,
            };
          },
        }),
        defineTool({
          name: 'image_search',
          description:
            'Search images by text query. Returns top image results with titles, image URLs, and source webpage URLs.',
          params: t.Object({ query: text('Text query to search for images.', 1024) }),
          async run({ query }, ctx) {
            needSerper('web:image_search');
            const hits = await providers.serperImages(config, query, limits(ctx));
            const result =
              imageText(hits) || `No image results found for '${query}'. Try a different query.`;
            return { result, query };
          },
        }),
        defineTool({
          name: 'reverse_image_search',
          description:
            'Reverse image search by providing an image URL. Returns visually similar images with titles and source URLs.',
          params: t.Object({ image_url: text('URL of the image to search for similar images.') }),
          async run({ image_url }, ctx) {
            needSerper('web:reverse_image_search');
            pageUrl(image_url);
            const hits = await providers.serperLens(config, image_url, limits(ctx));
            const result =
              imageText(hits) ||
              'No reverse image search results found for the provided image URL.';
            return { result, image_url };
          },
        }),
      ],
    };
  },
});
