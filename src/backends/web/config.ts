// The web backend's config section (`backends.web`): upstream's `apis.websearch` keys under the
// same names, plus the providers' endpoints, SearXNG, and the limits of fetching pages ourselves.
import { Type as t, type Static } from '@sinclair/typebox';

const optionalString = (description: string) =>
  t.Optional(t.String({ minLength: 1, maxLength: 4096, description }));

export const webConfigSchema = t.Object(
  {
    enabled: t.Boolean({ default: false }),
    serper_api_key: optionalString(
      'Serper API key: web:search, image_search, reverse_image_search',
    ),
    serper_url: t.String({
      default: 'https://google.serper.dev',
      minLength: 1,
      description: 'Serper-compatible endpoint (POST /search, /images, /lens)',
    }),
    searxng_url: optionalString('A SearXNG instance (GET /search?format=json) for web:search'),
    jina_api_key: optionalString('Jina reader API key: web:visit through the reader'),
    jina_url: t.String({
      default: 'https://r.jina.ai',
      minLength: 1,
      description: 'Jina-compatible reader (GET <jina_url>/<page url>)',
    }),
    visit_method: t.Union(
      ['auto', 'jina', 'direct', 'crawl4ai'].map((m) => t.Literal(m)),
      {
        default: 'auto',
        description:
          'auto: the reader when jina_api_key is set, else direct; crawl4ai means direct here',
      },
    ),
    content_limit: t.Integer({
      default: 50000,
      minimum: 1,
      description: 'Characters of a page kept (before any summary)',
    }),
    enable_llm_summary: t.Boolean({ default: false }),
    summary_model: optionalString('Chat model that summarises visited pages toward the goal'),
    openai_api_key: optionalString('Key of the OpenAI-compatible endpoint'),
    openai_api_url: t.String({
      default: 'https://api.openai.com/v1',
      minLength: 1,
      description: 'OpenAI-compatible base URL (POST <url>/chat/completions)',
    }),
    allow_private_addresses: t.Union(
      [t.Boolean(), t.Array(t.String({ minLength: 1, maxLength: 260 }), { maxItems: 256 })],
      {
        default: false,
        description:
          'Let web:visit fetch private, loopback and link-local addresses: true for all, or a ' +
          'list of hosts (host or host:port, as written in URLs)',
      },
    ),
    max_response_bytes: t.Integer({
      default: 5 * 1024 * 1024,
      minimum: 1024,
      description: 'Bytes read of any one response; the rest is cut',
    }),
    max_redirects: t.Integer({ default: 5, minimum: 0, maximum: 20 }),
    request_timeout_seconds: t.Number({
      default: 30,
      exclusiveMinimum: 0,
      description: 'Time limit of one provider request or page fetch (the call timeout wins)',
    }),
  },
  { additionalProperties: false, default: {} },
);

export type WebConfig = Static<typeof webConfigSchema>;
