// The providers the web tools call, each in its own wire format: Serper (POST JSON with
// X-API-KEY), SearXNG (GET /search?format=json), the Jina reader (GET <reader>/<url>, Bearer) and
// an OpenAI-compatible chat completions endpoint for goal-directed summaries.
import { BackendError } from '../../core/errors.ts';
import type { WebConfig } from './config.ts';
import { json, send, text, type Limits } from './transport.ts';

export interface Hit {
  title: string;
  link: string;
  snippet?: string;
  date?: string;
  source?: string;
}

export interface ImageHit {
  title: string;
  imageUrl?: string;
  link: string;
}

const base = (url: string) => url.replace(/\/+$/, '');
const hasCjk = (s: string) => /[\u4e00-\u9fff]/.test(s);

async function serper(c: WebConfig, path: string, body: unknown, limits: Limits): Promise<any> {
  const answer = await send(
    `${base(c.serper_url)}${path}`,
    {
      method: 'POST',
      headers: { 'X-API-KEY': c.serper_api_key!, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    },
    limits,
    'Serper',
  );
  return json(answer, 'Serper');
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export async function serperSearch(c: WebConfig, q: string, limits: Limits): Promise<Hit[]> {
  // Serper localises by these fields, as upstream sends them.
  const where = hasCjk(q)
    ? { location: 'China', gl: 'cn', hl: 'zh-cn' }
    : { location: 'United States', gl: 'us', hl: 'en' };
  const data = await serper(c, '/search', { q, ...where }, limits);
  const organic: any[] = Array.isArray(data?.organic) ? data.organic : [];
  return organic.map((o) => ({
    title: str(o.title) ?? 'No title',
    link: str(o.link) ?? '#',
    snippet: str(o.snippet),
    date: str(o.date),
    source: str(o.source),
  }));
}

export async function searxngSearch(c: WebConfig, q: string, limits: Limits): Promise<Hit[]> {
  const url = new URL(`${base(c.searxng_url!)}/search`);
  url.searchParams.set('q', q);
  url.searchParams.set('format', 'json');
  const data = json(
    await send(url.href, { headers: { Accept: 'application/json' } }, limits, 'SearXNG'),
    'SearXNG',
  );
  const results: any[] = Array.isArray(data?.results) ? data.results : [];
  return results.map((r) => ({
    title: str(r.title) ?? 'No title',
    link: str(r.url) ?? '#',
    snippet: str(r.content),
    date: str(r.publishedDate),
    source: str(r.engine),
  }));
}

const images = (items: unknown, key: 'imageUrl'): ImageHit[] =>
  (Array.isArray(items) ? items : []).map((i: any) => ({
    title: str(i.title) ?? '',
    imageUrl: str(i[key]),
    link: str(i.link) ?? '',
  }));

export async function serperImages(c: WebConfig, q: string, limits: Limits): Promise<ImageHit[]> {
  return images((await serper(c, '/images', { q }, limits))?.images, 'imageUrl');
}

export async function serperLens(c: WebConfig, url: string, limits: Limits): Promise<ImageHit[]> {
  return images((await serper(c, '/lens', { url }, limits))?.organic, 'imageUrl');
}

export async function jinaRead(c: WebConfig, url: string, limits: Limits): Promise<string> {
  const answer = await send(
    `${base(c.jina_url)}/${url}`,
    { headers: { Authorization: `Bearer ${c.jina_api_key}` } },
    limits,
    'the Jina reader',
  );
  const body = text(answer);
  if (answer.status !== 200) {
    throw new BackendError(`the Jina reader answered HTTP ${answer.status}: ${body.slice(0, 200)}`);
  }
  return answer.truncated ? `${body}\n...[Truncated]` : body;
}

/** A summary of `content` toward `goal`, by the configured chat model. */
export async function summarize(
  c: WebConfig,
  content: string,
  goal: string,
  url: string,
  limits: Limits,
): Promise<string> {
  const prompt =
    `Goal: ${goal}\n\nSummarise the page below (from ${url}) for that goal: keep only what ` +
    'bears on it, concisely and without losing facts. Answer with the summary alone.\n\n' +
    `--- page ---\n${content}\n--- end of page ---`;
  const answer = await send(
    `${base(c.openai_api_url)}/chat/completions`,
    {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(c.openai_api_key ? { Authorization: `Bearer ${c.openai_api_key}` } : {}),
      },
      body: JSON.stringify({
        model: c.summary_model,
        messages: [{ role: 'user', content: prompt }],
        max_tokens: 5000,
        temperature: 0.3,
      }),
    },
    limits,
    'the summary model',
  );
  const reply = json(answer, 'the summary model')?.choices?.[0]?.message?.content;
  if (typeof reply !== 'string') {
    throw new BackendError('the summary model answered without choices[0].message.content');
  }
  return reply.trim();
}
