// doc: upstream's doc-search and doc-read over document folders the test writes in upstream's
// seeds/doc format, a vision model that is a real HTTP server on loopback speaking the OpenAI chat
// completions format, and the bad inputs: no seed_path, one outside the roots or not a document,
// unknown sections, malformed XML, links out of the folder.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../src/backends/vm/png.ts';
import { buildApp, serverFixture, tempDir, type TestApp } from './helpers.ts';

/** A solid-colour PNG, so each image is told apart by its bytes. */
const png = (r: number, g: number, b: number) =>
  encodePng(
    new Uint8Array(4 * 4 * 3).fill(0).map((_, i) => [r, g, b][i % 3]!),
    4,
    4,
    12,
    3,
    'rgb',
  );

interface Section {
  id: string;
  heading: string;
  paragraphs: string[];
  page: number;
  image?: { id: string; caption: string; alt: string };
  table?: { id: string; html: string };
}

const SECTIONS: Section[] = [
  {
    id: '1',
    heading: 'Introduction',
    paragraphs: ['Glaciers retreat as the climate warms.'],
    page: 1,
  },
  {
    id: '2',
    heading: '2 Methods',
    paragraphs: [
      'We measured ice thickness with ground radar.',
      'Radar soundings were taken weekly.',
    ],
    page: 2,
    image: {
      id: '0',
      caption: 'Figure 1: radar transect of the glacier',
      alt: 'A grey profile of ice over rock.',
    },
  },
  {
    id: '2.1',
    heading: '2.1 Calibration',
    paragraphs: ['The radar was calibrated against boreholes.'],
    page: 3,
    table: { id: '0', html: '<table><tr><td>borehole</td><td>depth 41 m</td></tr></table>' },
  },
];

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;');

function writeDoc(dir: string, sections = SECTIONS): void {
  mkdirSync(join(dir, 'figures'), { recursive: true });
  mkdirSync(join(dir, 'page_images'), { recursive: true });
  mkdirSync(join(dir, 'tables'), { recursive: true });
  const body = sections
    .map((s) => {
      const ps = s.paragraphs
        .map((p) => `<Paragraph page_num="${s.page}.0">${esc(p)}</Paragraph>`)
        .join('');
      const img = s.image
        ? `<Image image_id="${s.image.id}" page_num="${s.page}.0"><Alt_Text>${esc(s.image.alt)}</Alt_Text><Caption>${esc(s.image.caption)}</Caption></Image>`
        : '';
      const table = s.table
        ? `<HTML_Table table_id="${s.table.id}" page_num="${s.page}.0">${esc(s.table.html)}</HTML_Table>`
        : '';
      return `<Section section_id="${s.id}" start_page_num="${s.page}" end_page_num="${s.page}.0"><Heading>${esc(s.heading)}</Heading>${ps}${img}${table}</Section>`;
    })
    .join('');
  writeFileSync(
    join(dir, 'all_content.xml'),
    `<?xml version='1.0' encoding='utf-8'?>\n<Document>${body}</Document>`,
  );
  const outline = sections
    .map(
      (s) =>
        `<Section section_id="${s.id}" start_page_num="${s.page}"><Heading>${esc(s.heading)}</Heading></Section>`,
    )
    .join('');
  writeFileSync(
    join(dir, 'outline.xml'),
    `<?xml version='1.0' encoding='utf-8'?>\n<Outline>${outline}</Outline>`,
  );
  writeFileSync(join(dir, 'figures', 'image_0.png'), png(255, 0, 0));
  for (const s of sections)
    writeFileSync(
      join(dir, 'page_images', `page_${String(s.page - 1).padStart(4, '0')}.png`),
      png(0, 0, s.page * 40),
    );
  writeFileSync(join(dir, 'tables', 'table_0.png'), png(0, 255, 0));
}

interface Seen {
  auth: string | null;
  body: {
    model: string;
    max_tokens: number;
    messages: {
      role: string;
      content: { type: string; text?: string; image_url?: { url: string } }[];
    }[];
  };
}

let root: string;
let paper: string;
let vlm: ReturnType<typeof Bun.serve>;
const seen: Seen[] = [];
let raw: TestApp;
let withVlm: TestApp;

beforeAll(async () => {
  root = tempDir('af-doc-');
  paper = join(root, 'docs', 'glacier');
  writeDoc(paper);
  vlm = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      if (new URL(req.url).pathname !== '/v1/chat/completions')
        return new Response('no', { status: 404 });
      const body = (await req.json()) as Seen['body'];
      seen.push({ auth: req.headers.get('authorization'), body });
      const last = body.messages.at(-1)!.content[0]!.text!;
      const goal = /## Goal\n(.*)/.exec(last)?.[1] ?? '';
      const images = body.messages
        .flatMap((m) => m.content)
        .filter((c) => c.type === 'image_url').length;
      const content = `Thinking.\n<json>${JSON.stringify({
        rational: 'r',
        evidence: `saw ${images} images; text mentions boreholes: ${last.includes('boreholes')}`,
        summary: `answer for ${goal}`,
      })}</json>`;
      return Response.json({
        id: 'x',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      });
    },
  });
  const base = { backends: { doc: { enabled: true, roots: [join(root, 'docs')] } } };
  raw = await buildApp(base);
  withVlm = await buildApp({
    backends: {
      doc: {
        enabled: true,
        roots: [join(root, 'docs')],
        seed_path: paper,
        vlm_model: 'test-vlm',
        vlm_api_key: 'sk-test-key',
        vlm_api_url: `http://127.0.0.1:${vlm.port}/v1`,
        vlm_max_tokens: 512,
      },
    },
  });
});

afterAll(async () => {
  await raw.close();
  await withVlm.close();
  vlm.stop(true);
  rmSync(root, { recursive: true, force: true });
});

describe('doc-search', () => {
  test('ranks headings, paragraphs, tables and captions by BM25, per keyword', async () => {
    const r = await raw.execute('doc-w', 'doc-search', {
      key_words: ['radar', 'borehole depth'],
      seed_path: paper,
    });
    expect(r.body.code).toBe(0);
    expect(r.body.meta.tool).toBe('doc:search');
    const [radar, bore] = r.body.data.searches;
    expect(radar.key_word).toBe('radar');
    // Heading-less matches: two paragraphs of 2, one of 2.1, the figure caption.
    expect(radar.total).toBe(4);
    expect(radar.results.map((h: { section_id: string }) => h.section_id).sort()).toEqual([
      '2',
      '2',
      '2',
      '2.1',
    ]);
    for (let i = 1; i < radar.results.length; i++)
      expect(radar.results[i - 1].score).toBeGreaterThanOrEqual(radar.results[i].score);
    expect(
      radar.results.some(
        (h: { type: string; image_id?: string }) => h.type === 'Image' && h.image_id === '0',
      ),
    ).toBe(true);
    // The table holds both words and ranks first.
    expect(bore.results[0]).toMatchObject({ type: 'HTML_Table', table_id: '0', section_id: '2.1' });
    expect(r.body.data.result).toContain('<Search_Result>');
    expect(r.body.data.result).toContain('section_id="2.1"');
  });

  test('max_search_results caps each keyword; a word found nowhere says so', async () => {
    const r = await raw.execute('doc-w', 'doc:search', {
      key_words: 'radar',
      max_search_results: 1,
      seed_path: paper,
    });
    expect(r.body.data.searches[0].results).toHaveLength(1);
    expect(r.body.data.result).toContain('the best 1');
    const none = await raw.execute('doc-w', 'doc:search', {
      key_words: ['volcano'],
      seed_path: paper,
    });
    expect(none.body.data.searches[0].total).toBe(0);
    expect(none.body.data.result).toContain('No section');
  });
});

describe('doc-read', () => {
  test('without a vision model: the section text, its images as base64 with MIME type, and a note', async () => {
    const r = await raw.execute('doc-w', 'doc-read', {
      section_ids: ['2'],
      goal: 'How was ice measured?',
      seed_path: paper,
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.summarised).toBe(false);
    expect(r.body.data.result).toContain('no vision model is configured');
    const [s] = r.body.data.sections;
    expect(s.text).toContain('ground radar');
    expect(s.text).toContain('<Caption>Figure 1: radar transect of the glacier</Caption>');
    const types = s.images.map((i: { type: string }) => i.type);
    expect(types).toEqual(['Page', 'Image']);
    expect(s.images[1].mime_type).toBe('image/png');
    expect(Buffer.from(s.images[1].base64, 'base64').equals(png(255, 0, 0))).toBe(true);
    expect(s.images[0].page_num).toBe(2);
  });

  test('max_image_num drops pages first; max_text_token cuts the text', async () => {
    const r = await raw.execute('doc-w', 'doc:read', {
      section_ids: '2',
      goal: 'g',
      max_image_num: 1,
      max_text_token: 120,
      seed_path: paper,
    });
    const [s] = r.body.data.sections;
    expect(s.images.map((i: { type: string }) => i.type)).toEqual(['Image']);
    expect(s.text_truncated).toBe(true);
    expect(s.text).toContain('cut at 120 characters');
  });

  test('with a vision model: the images and the goal go to chat completions, the summary comes back', async () => {
    seen.length = 0;
    const goal = 'How was the radar calibrated?';
    // No seed_path in the call: backends.doc.seed_path applies.
    const r = await withVlm.execute('doc-v', 'doc-read', { section_ids: ['2.1'], goal });
    expect(r.body.code).toBe(0);
    expect(r.body.data.summarised).toBe(true);
    expect(seen).toHaveLength(1);
    const req = seen[0]!;
    expect(req.auth).toBe('Bearer sk-test-key');
    expect(req.body.model).toBe('test-vlm');
    expect(req.body.max_tokens).toBe(512);
    const urls = req.body.messages
      .flatMap((m) => m.content)
      .filter((c) => c.type === 'image_url')
      .map((c) => c.image_url!.url);
    expect(urls).toEqual([
      `data:image/png;base64,${png(0, 0, 120).toString('base64')}`,
      `data:image/png;base64,${png(0, 255, 0).toString('base64')}`,
    ]);
    expect(req.body.messages.at(-1)!.content[0]!.text).toContain(goal);
    expect(r.body.data.sections[0].summary).toBe(`answer for ${goal}`);
    expect(r.body.data.sections[0].evidence).toBe('saw 2 images; text mentions boreholes: true');
    expect(r.body.data.result).toContain(`answer for ${goal}`);
    expect(r.body.data.sections[0].images[0].base64).toBeUndefined();
  });

  test('a vision model that is down is 2001 naming its URL', async () => {
    const down = await buildApp({
      backends: {
        doc: {
          enabled: true,
          roots: [join(root, 'docs')],
          vlm_model: 'm',
          vlm_api_url: 'http://127.0.0.1:9/v1',
          vlm_retry_max_attempts: 1,
        },
      },
    });
    try {
      const r = await down.execute('doc-d', 'doc:read', {
        section_ids: ['1'],
        goal: 'g',
        seed_path: paper,
      });
      expect(r.body.code).toBe(2001);
      expect(r.body.message).toContain('http://127.0.0.1:9/v1/chat/completions');
    } finally {
      await down.close();
    }
  });
});

describe('bad inputs', () => {
  test('no seed_path anywhere is 1002', async () => {
    const r = await raw.execute('doc-w', 'doc:search', { key_words: ['radar'] });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('seed_path is missing');
  });

  test('a seed_path outside the roots, missing, in the data dir or not a document is 1002', async () => {
    const outside = join(root, 'elsewhere');
    writeDoc(outside);
    const cases: [string, string][] = [
      [outside, 'outside the folders'],
      [join(root, 'docs', '..', 'elsewhere'), 'outside the folders'],
      [join(root, 'docs', 'nope'), 'does not exist'],
      [join(root, 'docs'), 'not a preprocessed document folder'],
    ];
    for (const [seed_path, message] of cases) {
      const r = await raw.execute('doc-w', 'doc:search', { key_words: ['radar'], seed_path });
      expect({ seed_path, code: r.body.code }).toEqual({ seed_path, code: 1002 });
      expect(r.body.message).toContain(message);
    }
    // A link inside the roots to a document outside them is judged by where it leads.
    symlinkSync(outside, join(root, 'docs', 'link'));
    const viaLink = await raw.execute('doc-w', 'doc:search', {
      key_words: ['radar'],
      seed_path: join(root, 'docs', 'link'),
    });
    expect(viaLink.body.code).toBe(1002);
  });

  test('a document inside the data directory is refused even when a root covers it', async () => {
    const wide = await buildApp({ backends: { doc: { enabled: true, roots: ['/'] } } });
    try {
      const inData = join(wide.dataDir, 'workspaces', 'fake-doc');
      writeDoc(inData);
      const r = await wide.execute('doc-w', 'doc:search', {
        key_words: ['radar'],
        seed_path: inData,
      });
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain("inside the server's data directory");
      const ok = await wide.execute('doc-w', 'doc:search', {
        key_words: ['radar'],
        seed_path: paper,
      });
      expect(ok.body.code).toBe(0);
    } finally {
      await wide.close();
    }
  });

  test('a doc session lends its seed_path to calls that give none', async () => {
    const c = await raw.post('/session/create', {
      worker_id: 'doc-s',
      resource_type: 'doc',
      config: { seed_path: paper },
    });
    expect(c.body.code).toBe(0);
    const r = await raw.execute('doc-s', 'doc:search', { key_words: ['radar'] });
    expect(r.body.code).toBe(0);
    expect(r.body.data.searches[0].total).toBe(4);
  });

  test('unknown section ids are 1002 listing the known ones', async () => {
    const r = await raw.execute('doc-w', 'doc:read', {
      section_ids: ['2', '9.9'],
      goal: 'g',
      seed_path: paper,
    });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('"9.9"');
    expect(r.body.message).toContain('1, 2, 2.1');
  });

  test('malformed XML is 1002 with file, line and column; an entity from a DOCTYPE is refused', async () => {
    /** A document whose all_content.xml is `xml`, searched. */
    const searchBroken = async (name: string, xml: string) => {
      const folder = join(root, 'docs', name);
      writeDoc(folder);
      writeFileSync(join(folder, 'all_content.xml'), xml);
      return raw.execute('doc-w', 'doc:search', { key_words: ['x'], seed_path: folder });
    };
    const r = await searchBroken(
      'bad',
      '<Document>\n<Section section_id="1"><Heading>x</Section>\n</Document>',
    );
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toMatch(/all_content\.xml:2:\d+/);
    const e = await searchBroken(
      'xxe',
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' +
        '<Document><Section section_id="1"><Heading>&x;</Heading></Section></Document>',
    );
    expect(e.body.code).toBe(1002);
    expect(e.body.message).toContain('not well-formed');
  });

  test('a figure that links out of the folder is not read', async () => {
    const linked = join(root, 'docs', 'linked');
    writeDoc(linked);
    rmSync(join(linked, 'figures', 'image_0.png'));
    symlinkSync('/etc/passwd', join(linked, 'figures', 'image_0.png'));
    const r = await raw.execute('doc-w', 'doc:read', {
      section_ids: ['2'],
      goal: 'g',
      seed_path: linked,
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.sections[0].images.map((i: { type: string }) => i.type)).toEqual(['Page']);
  });

  test('tools are listed with upstream params, in the OpenAI format too', async () => {
    const tools = await raw.get('/tools');
    const read = tools.body.data.tools.find((x: { name: string }) => x.name === 'doc:read');
    expect(Object.keys(read.parameters.properties)).toEqual([
      'section_ids',
      'goal',
      'max_image_num',
      'max_text_token',
      'seed_path',
    ]);
    const oa = await raw.get('/tools?format=openai');
    expect(
      oa.body.data.tools.map((x: { function: { name: string } }) => x.function.name),
    ).toContain('doc__search');
  });
});

describe("upstream's config", () => {
  const fx = serverFixture('af-doc-up-');
  test('apis.doc with its VLM key unset starts the server; doc:read answers the raw section', async () => {
    const data = fx.newDataDir();
    const server = await fx.start(data, {
      server: { url: 'http://127.0.0.1:18890', port: 18890, session_ttl: 300 },
      apis: {
        doc: {
          _comment_required: 'vlm keys from the environment',
          seed_path: paper,
          max_search_results: 10,
          max_image_num: 10,
          max_text_token: 20000,
          vlm_model: 'some/model',
          vlm_api_key: '${AF_TEST_UNSET_VLM_KEY}',
          vlm_api_url: 'http://127.0.0.1:9/v1',
          vlm_max_tokens: 16384,
          vlm_timeout: 300,
          vlm_retry_max_attempts: 10,
        },
      },
      backends: { doc: { roots: [root] } },
    });
    const r = await server.post('/execute', {
      worker_id: 'w',
      action: 'doc-read',
      params: { section_ids: ['1'], goal: 'g' },
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.summarised).toBe(false);
    const s = await server.post('/execute', {
      worker_id: 'w',
      action: 'doc-search',
      params: { key_words: ['glaciers'] },
    });
    // Stemmed: the paragraph's "Glaciers" and the caption's "glacier".
    expect(s.body.data.searches[0].total).toBe(2);
  });
});
