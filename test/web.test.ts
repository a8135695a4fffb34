// The web backend against real HTTP servers on loopback speaking the providers' formats (Serper,
// SearXNG, the Jina reader, OpenAI chat completions), pages served on loopback visited directly,
// the SSRF guard (literal addresses, resolved names, redirects), caps, timeouts, bad input, and
// the real server started on upstream's web config shape.
import { afterAll, afterEach, describe, expect, test } from 'bun:test';
import type { Server } from 'bun';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nonPublicReason } from '../src/backends/web/address.ts';
import { buildApp, serverFixture, type TestApp } from './helpers.ts';

interface Seen {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: string;
}

const servers: Server<unknown>[] = [];
afterAll(() => {
  for (const s of servers) s.stop(true);
});

/** A loopback HTTP server that records every request it gets. */
function fake(handle: (req: Request, seen: Seen) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 30,
    async fetch(req) {
      const url = new URL(req.url);
      const s: Seen = {
        method: req.method,
        path: url.pathname,
        search: url.searchParams,
        headers: req.headers,
        body: await req.text(),
      };
      seen.push(s);
      return handle(req, s);
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, port: server.port!, seen };
}

const SERPER_KEY = 'serper-test-key-123';
const JINA_KEY = 'jina-test-key-456';
const OPENAI_KEY = 'openai-test-key-789';

/** Serper: POST /search {q}, /images {q}, /lens {url}; organic hits made from the query. */
const serper = fake((req, s) => {
  if (s.headers.get('x-api-key') !== SERPER_KEY) {
    return Response.json({ message: 'Unauthorized.', statusCode: 403 }, { status: 403 });
  }
  const body = JSON.parse(s.body);
  if (s.path === '/search') {
    if (String(body.q).includes('fail')) return new Response('upstream broke', { status: 500 });
    if (String(body.q).includes('nothing')) return Response.json({ organic: [] });
    const words = String(body.q).split(/\s+/);
    return Response.json({
      searchParameters: { q: body.q, gl: body.gl, hl: body.hl, type: 'search' },
      organic: words.map((w, i) => ({
        title: `About ${w}`,
        link: `https://example.org/${encodeURIComponent(w)}`,
        snippet: `${w} explained in ${i + 1} words`,
        position: i + 1,
        ...(i === 0 ? { date: 'Jan 2, 2025' } : {}),
      })),
    });
  }
  if (s.path === '/images') {
    return Response.json({
      images: [1, 2, 3, 4].map((n) => ({
        title: `${body.q} picture ${n}`,
        imageUrl: `https://img.example.org/${n}.jpg`,
        link: `https://example.org/page${n}`,
      })),
    });
  }
  if (s.path === '/lens') {
    return Response.json({
      organic: [
        {
          title: `like ${body.url}`,
          imageUrl: 'https://img.example.org/s.jpg',
          link: 'https://example.org/s',
        },
      ],
    });
  }
  return new Response('not found', { status: 404 });
});

/** SearXNG: GET /search?q=…&format=json. */
const searxng = fake((_req, s) => {
  if (s.path !== '/search' || s.search.get('format') !== 'json') {
    return new Response('format must be json', { status: 403 });
  }
  const q = s.search.get('q')!;
  return Response.json({
    query: q,
    results: [
      {
        url: `https://searx.example/${q.length}`,
        title: `Searx on ${q}`,
        content: `text for ${q}`,
        engine: 'duckduckgo',
      },
    ],
  });
});

/** Jina reader: GET /<page url> with Authorization: Bearer; answers markdown of the URL. */
const jina = fake((_req, s) => {
  if (s.headers.get('authorization') !== `Bearer ${JINA_KEY}`) {
    return Response.json({ code: 401, message: 'bad key' }, { status: 401 });
  }
  const target = s.path.slice(1);
  return new Response(`Title: Read ${target}\n\nMarkdown Content:\n# ${target}\n\nreader text`, {
    headers: { 'content-type': 'text/plain' },
  });
});

/** OpenAI chat completions: the reply names the goal and the size of the prompt it got. */
const openai = fake((_req, s) => {
  if (s.path !== '/v1/chat/completions') return new Response('no', { status: 404 });
  const body = JSON.parse(s.body);
  const prompt: string = body.messages[0].content;
  const goal = /^Goal: (.*)$/m.exec(prompt)?.[1];
  return Response.json({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    model: body.model,
    choices: [
      {
        index: 0,
        finish_reason: 'stop',
        message: { role: 'assistant', content: `  summary for ${goal} (${prompt.length} chars)  ` },
      },
    ],
  });
});

const ARTICLE = `<!doctype html><html><head><title>Kettle facts</title></head><body>
<nav>Home | About | Shop</nav><article><h1>Kettle facts</h1>
${Array.from({ length: 8 }, (_, i) => `<p>Paragraph ${i}: a kettle boils water for tea on the stove, quickly and safely.</p>`).join('\n')}
</article><footer>copyright</footer></body></html>`;

/** Pages: an article, a large text, an image, a slow page, redirects. */
const site = fake(async (_req, s) => {
  if (s.path === '/article')
    return new Response(ARTICLE, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  if (s.path === '/short') {
    const page =
      '<html><head><title>T</title><script>var secret = 1;</script><style>p{}</style></head><body><p>Tiny page.</p><p>Two lines.</p></body></html>';
    return new Response(page, { headers: { 'content-type': 'text/html' } });
  }
  if (s.path === '/big')
    return new Response('x'.repeat(200_000), { headers: { 'content-type': 'text/plain' } });
  if (s.path === '/image')
    return new Response(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), {
      headers: { 'content-type': 'image/png' },
    });
  if (s.path === '/loop')
    return new Response(null, { status: 302, headers: { location: '/loop' } });
  if (s.path === '/to-article')
    return new Response(null, { status: 301, headers: { location: '/article' } });
  if (s.path.startsWith('/to/')) {
    return new Response(null, {
      status: 302,
      headers: { location: decodeURIComponent(s.path.slice(4)) },
    });
  }
  return new Response('missing', { status: 404 });
});

const slow = fake(async () => {
  await Bun.sleep(3000);
  return Response.json({ organic: [] });
});

const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function web(config: Record<string, unknown>): Promise<TestApp> {
  const app = await buildApp({ backends: { web: { enabled: true, ...config } } });
  apps.push(app);
  return app;
}

const withSerper = { serper_api_key: SERPER_KEY, serper_url: serper.url };

describe('tools', () => {
  test('listed in /tools and the OpenAI format; every upstream spelling resolves', async () => {
    const app = await web(withSerper);
    const tools = (await app.get('/tools')).body.data.tools.map((t: { name: string }) => t.name);
    for (const n of ['search', 'visit', 'image_search', 'reverse_image_search']) {
      expect(tools).toContain(`web:${n}`);
    }
    const openaiTools = (await app.get('/tools?format=openai')).body.data.tools;
    const search = openaiTools.find((t: any) => t.function.name === 'web__search');
    expect(search.function.parameters.required).toEqual(['query']);
    for (const spelling of ['web-search', 'web_search', 'web.search', 'web:search']) {
      const r = await app.execute('w1', spelling, { query: ['tea'] });
      expect(r.body.code).toBe(0);
      expect(r.body.meta.tool).toBe('web:search');
    }
    for (const spelling of ['web-image_search', 'web-reverse_image_search', 'web-visit']) {
      const r = await app.execute('w1', spelling, {});
      expect(r.body.code).toBe(1002);
    }
  });

  test('session/create for web works, also without any provider', async () => {
    const app = await web({});
    const r = await app.post('/session/create', { worker_id: 'w1', resource_type: 'web' });
    expect(r.body.code).toBe(0);
    expect(r.body.data.session_id).toStartWith('web_w1_');
  });
});

describe('search', () => {
  test('Serper: key header, JSON body localised as upstream, results per query', async () => {
    const app = await web(withSerper);
    const before = serper.seen.length;
    const r = await app.execute('w1', 'web:search', { query: ['kettle tea', '烧水壶'] });
    expect(r.body.code).toBe(0);
    const reqs = serper.seen.slice(before);
    expect(reqs).toHaveLength(2);
    for (const q of reqs) {
      expect(q.method).toBe('POST');
      expect(q.path).toBe('/search');
      expect(q.headers.get('x-api-key')).toBe(SERPER_KEY);
      expect(q.headers.get('content-type')).toBe('application/json');
    }
    const bodies = reqs.map((q) => JSON.parse(q.body)).sort((a, b) => a.q.localeCompare(b.q));
    expect(bodies[0]).toEqual({ q: 'kettle tea', location: 'United States', gl: 'us', hl: 'en' });
    expect(bodies[1]).toEqual({ q: '烧水壶', location: 'China', gl: 'cn', hl: 'zh-cn' });
    const [first, second] = r.body.data.result.split('\n=======\n');
    expect(first).toStartWith(
      "A Google search for 'kettle tea' found 2 results:\n\n## Web Results\n1. [About kettle](https://example.org/kettle)\nDate published: Jan 2, 2025\n",
    );
    expect(first).toContain('2. [About tea](https://example.org/tea)\n\ntea explained in 2 words');
    expect(second).toStartWith("A Google search for '烧水壶' found 1 results");
    expect(r.body.data.query).toEqual(['kettle tea', '烧水壶']);
  });

  test('a failing query is listed under the others; all failing is 2001', async () => {
    const app = await web(withSerper);
    const part = await app.execute('w1', 'web:search', {
      query: ['tea', 'please fail', 'nothing here'],
    });
    expect(part.body.code).toBe(0);
    expect(part.body.data.result).toContain("No results found for 'nothing here'");
    expect(part.body.data.result).toContain(
      "Errors encountered:\nQuery 'please fail' failed: Serper answered HTTP 500",
    );
    const all = await app.execute('w1', 'web:search', { query: ['fail one'] });
    expect(all.body.code).toBe(2001);
    expect(all.body.message).toContain('Serper answered HTTP 500');
  });

  test('a wrong key: the provider refuses, the answer says so (2001)', async () => {
    const app = await web({ ...withSerper, serper_api_key: 'wrong-key' });
    const r = await app.execute('w1', 'web:search', { query: 'tea' });
    expect(r.body.code).toBe(2001);
    expect(r.body.message).toContain('HTTP 403');
  });

  test('SearXNG when no Serper key: GET /search?format=json', async () => {
    const app = await web({ searxng_url: searxng.url + '/' });
    const before = searxng.seen.length;
    const r = await app.execute('w1', 'web-search', { query: ['open source search'] });
    expect(r.body.code).toBe(0);
    const q = searxng.seen[before]!;
    expect(q.method).toBe('GET');
    expect(q.path).toBe('/search');
    expect(q.search.get('q')).toBe('open source search');
    expect(q.search.get('format')).toBe('json');
    expect(r.body.data.result).toContain(
      '[Searx on open source search](https://searx.example/18)\nSource: duckduckgo',
    );
  });

  test('a slow provider is cut at the request timeout: 2002', async () => {
    const app = await web({
      serper_api_key: SERPER_KEY,
      serper_url: slow.url,
      request_timeout_seconds: 0.3,
    });
    const started = performance.now();
    const r = await app.execute('w1', 'web:search', { query: ['tea'] });
    expect(r.body.code).toBe(2002);
    expect(r.body.message).toContain('Serper did not answer within 300 ms');
    expect(performance.now() - started).toBeLessThan(2500);
  });

  test('image search (/images) and reverse image search (/lens)', async () => {
    const app = await web(withSerper);
    const before = serper.seen.length;
    const img = await app.execute('w1', 'web-image_search', { query: 'red kettle' });
    expect(img.body.code).toBe(0);
    expect(JSON.parse(serper.seen[before]!.body)).toEqual({ q: 'red kettle' });
    expect(img.body.data.result).toBe(
      '```\n' +
        [1, 2, 3]
          .map(
            (n) =>
              `Image: https://img.example.org/${n}.jpg, Title: red kettle picture ${n}, Webpage URL: https://example.org/page${n}`,
          )
          .join('\n\n') +
        '\n```',
    );
    const rev = await app.execute('w1', 'web-reverse_image_search', {
      image_url: 'https://img.example.org/k.png',
    });
    expect(rev.body.code).toBe(0);
    expect(serper.seen.at(-1)!.path).toBe('/lens');
    expect(JSON.parse(serper.seen.at(-1)!.body)).toEqual({ url: 'https://img.example.org/k.png' });
    expect(rev.body.data.result).toContain('Title: like https://img.example.org/k.png');
  });
});

describe('visit', () => {
  const tlsServers = serverFixture('af-web-tls-');

  test('through the Jina reader: GET <reader>/<url> with the Bearer key', async () => {
    const app = await web({ jina_api_key: JINA_KEY, jina_url: jina.url });
    const before = jina.seen.length;
    const r = await app.execute('w1', 'web-visit', {
      urls: ['https://example.org/a?b=1'],
      goal: 'facts',
    });
    expect(r.body.code).toBe(0);
    expect(jina.seen[before]!.path).toBe('/https://example.org/a');
    expect(jina.seen[before]!.headers.get('authorization')).toBe(`Bearer ${JINA_KEY}`);
    expect(r.body.data.result).toStartWith(
      '1. Content from https://example.org/a?b=1:\n\nTitle: Read https://example.org/a',
    );
    expect(r.body.data).toMatchObject({ goal: 'facts', warning: null });
  });

  test('a page on loopback, fetched directly when private addresses are allowed', async () => {
    const app = await web({ allow_private_addresses: true });
    const r = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/article`],
      goal: 'kettles',
    });
    expect(r.body.code).toBe(0);
    const text: string = r.body.data.result;
    expect(text).toStartWith(`1. Content from ${site.url}/article:\n\nTitle: Kettle facts\n`);
    expect(text).toContain('Paragraph 7: a kettle boils water');
    expect(text).not.toContain('Home | About');
    expect(text).toMatch(/quickly and safely\.\n+Paragraph 1:/);
    const short = await app.execute('w1', 'web:visit', { urls: [`${site.url}/short`], goal: 'g' });
    expect(short.body.data.result).toMatch(/Tiny page\.\n+Two lines\./);
    expect(short.body.data.result).not.toContain('secret');
    expect(site.seen.at(-1)!.headers.get('user-agent')).toContain('agentflow-server');
  });

  test('the same page is refused without it: 1002 naming the setting', async () => {
    const app = await web({});
    const r = await app.execute('w1', 'web:visit', { urls: [`${site.url}/article`], goal: 'g' });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('loopback');
    expect(r.body.message).toContain('backends.web.allow_private_addresses');
    const named = await app.execute('w1', 'web:visit', {
      urls: [`http://localhost:${site.port}/article`],
      goal: 'g',
    });
    expect(named.body.code).toBe(1002);
    expect(named.body.message).toContain('localhost resolves to');
  });

  test('every kind of non-public address literal is refused before connecting', async () => {
    const app = await web({});
    const before = site.seen.length;
    for (const host of [
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '0.0.0.0',
      '100.64.0.1',
      '[::1]',
      '[::]',
      '[::ffff:127.0.0.1]',
      '[::ffff:0:127.0.0.1]',
      '[64:ff9b:1::808:808]',
      '[::ffff:a9fe:a9fe]',
      '[fd00::1]',
      '[fe80::1]',
      '[64:ff9b::7f00:1]',
      '0x7f000001',
      '2130706433',
    ]) {
      const r = await app.execute('w1', 'web:visit', {
        urls: [`http://${host}:${site.port}/article`],
        goal: 'g',
      });
      expect({ host, code: r.body.code }).toEqual({ host, code: 1002 });
    }
    expect(site.seen.length).toBe(before);
    for (const pub of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect(nonPublicReason(pub)).toBeNull();
  });

  test('a redirect from an allowed host to a private one is refused; within it, followed', async () => {
    const app = await web({
      allow_private_addresses: [`127.0.0.1:${site.port}`],
      max_redirects: 3,
    });
    const ok = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/to-article`],
      goal: 'g',
    });
    expect(ok.body.code).toBe(0);
    expect(ok.body.data.result).toContain('Title: Kettle facts');
    const away = `http://localhost:${site.port}/article`;
    const r = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/to/${encodeURIComponent(away)}`],
      goal: 'g',
    });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain(`${away} is refused`);
    const meta = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/to/${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`],
      goal: 'g',
    });
    expect(meta.body.code).toBe(1002);
    expect(meta.body.message).toContain('link-local');
    const file = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/to/${encodeURIComponent('file:///etc/passwd')}`],
      goal: 'g',
    });
    expect(file.body.code).toBe(1002);
    expect(file.body.message).toContain('only http and https are visited');
    const loop = await app.execute('w1', 'web:visit', { urls: [`${site.url}/loop`], goal: 'g' });
    expect(loop.body.code).toBe(2001);
    expect(loop.body.message).toContain('redirected more than 3 times');
  });

  test('a name is connected to at the address it was checked at, its Host header kept', async () => {
    const app = await web({ allow_private_addresses: [`localhost:${site.port}`] });
    const r = await app.execute('w1', 'web:visit', {
      urls: [`http://localhost:${site.port}/article`],
      goal: 'g',
    });
    expect(r.body.code).toBe(0);
    expect(site.seen.at(-1)!.headers.get('host')).toBe(`localhost:${site.port}`);
    const other = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/article`],
      goal: 'g',
    });
    expect(other.body.code).toBe(1002);
  });

  test('https: the certificate is verified against the URL host while connecting to its address', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'af-web-tls-'));
    try {
      const gen = Bun.spawnSync(
        [
          'openssl',
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdout: 'ignore', stderr: 'pipe' },
      );
      if (gen.exitCode !== 0) throw new Error(`openssl failed: ${gen.stderr}`);
      const tls = Bun.serve({
        hostname: '127.0.0.1',
        port: 0,
        tls: { key: Bun.file(join(dir, 'key.pem')), cert: Bun.file(join(dir, 'cert.pem')) },
        fetch: () => new Response('secret page', { headers: { 'content-type': 'text/plain' } }),
      });
      servers.push(tls);
      const app = await web({ allow_private_addresses: true });
      const r = await app.execute('w1', 'web:visit', {
        urls: [`https://localhost:${tls.port}/`],
        goal: 'g',
      });
      // A self-signed certificate is not trusted: a clear 2001, never the page.
      expect(r.body.code).toBe(2001);
      expect(r.body.message).toContain(`the page https://localhost:${tls.port}/ is unreachable`);
      expect(JSON.stringify(r.body)).not.toContain('secret page');
      // Trusted (a server process started with the CA), the page is read: the connection went to
      // 127.0.0.1 and the certificate was checked against "localhost", the URL's host.
      const server = await tlsServers.start(
        tlsServers.newDataDir(),
        {
          backends: { web: { enabled: true, allow_private_addresses: [`localhost:${tls.port}`] } },
        },
        { env: { NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') } },
      );
      const ok = await server.post('/execute', {
        worker_id: 'w1',
        action: 'web:visit',
        params: { urls: [`https://localhost:${tls.port}/`], goal: 'g' },
      });
      expect(ok.body.code).toBe(0);
      expect(ok.body.data.result).toBe(
        `1. Content from https://localhost:${tls.port}/:\n\nsecret page`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an oversized page is cut at max_response_bytes; content_limit cuts the text', async () => {
    const app = await web({ allow_private_addresses: true, max_response_bytes: 4096 });
    const r = await app.execute('w1', 'web:visit', { urls: [`${site.url}/big`], goal: 'g' });
    expect(r.body.code).toBe(0);
    const text: string = r.body.data.result;
    expect(text).toContain('x'.repeat(4096) + '\n...[Truncated at 4096 bytes]');
    expect(text).not.toContain('x'.repeat(4097));
    const small = await web({ allow_private_addresses: true, content_limit: 100 });
    const cut = await small.execute('w1', 'web:visit', { urls: [`${site.url}/big`], goal: 'g' });
    expect(cut.body.data.result).toEndWith('x'.repeat(100) + '\n...[Truncated]');
  });

  test('non-HTML content and HTTP errors fail that URL; the others still answer', async () => {
    const app = await web({ allow_private_addresses: true });
    const r = await app.execute('w1', 'web:visit', {
      urls: [`${site.url}/image`, `${site.url}/article`, `${site.url}/nope`],
      goal: 'g',
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.warning).toBe('2/3 URLs failed');
    expect(r.body.data.result).toContain(
      `**Failed URLs:**\n- ${site.url}/image: ${site.url}/image is image/png, not a web page or text`,
    );
    expect(r.body.data.result).toContain(`- ${site.url}/nope: ${site.url}/nope answered HTTP 404`);
    const only = await app.execute('w1', 'web:visit', { urls: [`${site.url}/image`], goal: 'g' });
    expect(only.body.code).toBe(2001);
    expect(only.body.message).toContain('image/png');
  });

  test('LLM summary: goal-directed chat completion with the key, model and page', async () => {
    const app = await web({
      allow_private_addresses: true,
      enable_llm_summary: true,
      summary_model: 'test/summarizer-1',
      openai_api_key: OPENAI_KEY,
      openai_api_url: `${openai.url}/v1/`,
    });
    const r = await app.execute('w1', 'web:visit', {
      urls: `${site.url}/article`,
      goal: 'how kettles boil',
    });
    expect(r.body.code).toBe(0);
    const req = openai.seen.at(-1)!;
    expect(req.method).toBe('POST');
    expect(req.headers.get('authorization')).toBe(`Bearer ${OPENAI_KEY}`);
    const body = JSON.parse(req.body);
    expect(body.model).toBe('test/summarizer-1');
    expect(body.messages[0].role).toBe('user');
    expect(body.messages[0].content).toContain('how kettles boil');
    expect(body.messages[0].content).toContain('Paragraph 3: a kettle boils water');
    expect(r.body.data.result).toBe(
      `1. summary for how kettles boil (${body.messages[0].content.length} chars)`,
    );
  });
});

describe('bad input and missing providers', () => {
  test('bad params are 1002', async () => {
    const app = await web({ ...withSerper, allow_private_addresses: true });
    const cases: [string, unknown][] = [
      ['web:search', {}],
      ['web:search', { query: 5 }],
      ['web:search', { query: [] }],
      ['web:search', { query: [''] }],
      ['web:visit', { urls: ['https://example.org'] }],
      ['web:visit', { urls: [], goal: 'g' }],
      ['web:visit', { urls: ['ftp://example.org/x'], goal: 'g' }],
      ['web:visit', { urls: ['not a url'], goal: 'g' }],
      ['web:visit', { urls: ['http://user:pw@example.org/'], goal: 'g' }],
      ['web:image_search', { query: ['a'] }],
      ['web:reverse_image_search', {}],
      ['web:reverse_image_search', { image_url: 'file:///etc/passwd' }],
    ];
    for (const [action, params] of cases) {
      const r = await app.execute('w1', action, params);
      expect({ action, params, code: r.body.code }).toEqual({ action, params, code: 1002 });
    }
    expect((await app.execute('w1', 'web:nope', {})).body.code).toBe(1001);
  });

  test('without a provider: 2003 naming the key to set', async () => {
    const app = await web({});
    const search = await app.execute('w1', 'web:search', { query: ['tea'] });
    expect(search.body.code).toBe(2003);
    expect(search.body.message).toContain('serper_api_key');
    expect(search.body.message).toContain('searxng_url');
    for (const [action, params] of [
      ['web:image_search', { query: 'tea' }],
      ['web:reverse_image_search', { image_url: 'https://example.org/a.png' }],
    ] as const) {
      const r = await app.execute('w1', action, params);
      expect(r.body.code).toBe(2003);
      expect(r.body.message).toContain('backends.web.serper_api_key');
    }
    const jinaOnly = await web({ visit_method: 'jina' });
    const visit = await jinaOnly.execute('w1', 'web:visit', {
      urls: ['https://example.org'],
      goal: 'g',
    });
    expect(visit.body.code).toBe(2003);
    expect(visit.body.message).toContain('backends.web.jina_api_key');
  });
});

describe("upstream's web config", () => {
  const fixture = serverFixture('af-web-e2e-');

  test('starts the server; web:search goes to the configured Serper', async () => {
    const dataDir = fixture.newDataDir();
    const server = await fixture.start(
      dataDir,
      {
        server: { url: 'http://127.0.0.1:18890', port: 18890 },
        apis: {
          websearch: {
            serper_api_key: '${AF_WEB_SERPER}',
            jina_api_key: '${AF_WEB_JINA_UNSET}',
            visit_method: 'jina',
            content_limit: 50000,
            enable_llm_summary: true,
            summary_model: 'fixture/model',
            openai_api_key: '${AF_WEB_OPENAI_UNSET}',
            openai_api_url: `${openai.url}/v1`,
            serper_url: serper.url,
          },
        },
      },
      { env: { AF_WEB_SERPER: SERPER_KEY } },
    );
    const r = await server.post('/execute', {
      worker_id: 'w1',
      action: 'web-search',
      params: { query: ['kettle'] },
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.result).toContain('[About kettle](https://example.org/kettle)');
    const visit = await server.post('/execute', {
      worker_id: 'w1',
      action: 'web-visit',
      params: { urls: ['https://example.org'], goal: 'g' },
    });
    expect(visit.body.code).toBe(2003);
    expect(visit.body.message).toContain('jina_api_key');
    const session = await server.post('/session/create', { worker_id: 'w1', resource_type: 'web' });
    expect(session.body.code).toBe(0);
  });
});
