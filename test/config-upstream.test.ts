// Upstream's config format starts this server: our own fixtures written in that format (every key
// upstream's shipped files use, with our values), gaps left by unset ${VAR}s, errors naming the
// upstream field, unavailable resource types in /warmup/status, the real files when a checkout of
// upstream is at hand, and the real server started on one of them.
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { newNotices, type ConfigNotices } from '../src/config-upstream.ts';
import { ConfigError } from '../src/core/errors.ts';
import { silentLogger } from '../src/core/log.ts';
import { createServices } from '../src/server.ts';
import { cleanupServers, serverFixture, tempDir } from './helpers.ts';

const dirs: string[] = [];
afterAll(() => cleanupServers([], dirs));

function scratch(): string {
  const dir = tempDir('af-upstream-');
  dirs.push(dir);
  return dir;
}

function file(content: unknown, dir = scratch()): string {
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

function load(content: unknown, env: Record<string, string> = {}) {
  const notices = newNotices();
  const config = loadConfig({ configPath: file(content) }, env, notices);
  return { config, notices };
}

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

/** A small corpus of our own in upstream's JSONL layout (`contents`). */
function corpus(dir = scratch()): string {
  const path = join(dir, 'corpus.jsonl');
  const docs = [
    { id: 'k1', title: 'Kettles', contents: 'A kettle boils water for tea on the stove.' },
    { id: 'k2', title: 'Teapots', contents: 'A teapot steeps leaves in hot water.' },
    { id: 'k3', title: 'Bicycles', contents: 'A bicycle has two wheels and pedals.' },
  ];
  writeFileSync(path, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  return path;
}

// Our own fixtures in upstream's format, one per kind of file upstream ships.
const ragFile = (extra: Record<string, unknown> = {}) => ({
  $schema: 'fixture: rag in upstream format',
  server: { url: 'http://127.0.0.1:28411', port: 28411, session_ttl: 120 },
  resources: {
    rag: {
      enabled: true,
      description: 'fixture retrieval',
      backend_class: 'fixture.RetrievalBackend',
      config: {
        _comment_device: ['fixture note one', 'fixture note two'],
        _comment_required: 'fixture: paths come from AF_FIX_* variables',
        model_name: '${AF_FIX_MODEL}',
        index_path: '${AF_FIX_INDEX}',
        corpus_path: '${AF_FIX_CORPUS}',
        device: 'cuda:7',
        default_top_k: 7,
        batcher_trigger_batch_size: 4,
        batcher_max_batch_size: 8,
        batcher_max_wait_time: 0.2,
        ...extra,
      },
    },
  },
  warmup: { enabled: true, resources: ['rag'] },
});

const guiFile = {
  server: { url: 'http://localhost:28412', port: 1, session_ttl: 900 },
  resources: {
    vm: {
      enabled: true,
      description: 'fixture desktop',
      backend_class: 'fixture.DesktopBackend',
      config: {
        provider: 'docker',
        region: '',
        os_type: 'FixtureOS',
        screen_size: [1920, 1080],
        headless: false,
        connection_type: 'local',
        pool_size: 2,
        setup: [],
        pool_reset: false,
        snapshot_name: 'fixture-snap',
        use_proxy: false,
        _comment_required: 'fixture: secrets via AF_FIX_* variables',
        client_password: '${AF_FIX_PASSWORD:-fixture}',
        vm_path: '${AF_FIX_VM_IMAGE}',
        recording: false,
        recording_path: '${AF_FIX_RECORDINGS:-fixture_recordings}',
      },
    },
  },
  warmup: { enabled: true, resources: ['vm'] },
};

const mcpFile = {
  server: { url: 'http://127.0.0.1:28413', port: 28413, session_ttl: 60 },
  resources: {
    mcp: {
      enabled: true,
      description: 'fixture tool servers',
      backend_class: 'fixture.ToolServers',
      config: {
        enabled_mcp_servers: ['fixture-a', 'fixture-b'],
        workspace_root: '${AF_FIX_WORKSPACE:-/tmp/fixture}',
        env_overrides: { FIX_HOST: '${AF_FIX_HOST:-fixture-db}', FIX_PORT: '${AF_FIX_PORT:-1}' },
      },
    },
  },
  warmup: { enabled: true, resources: ['mcp'] },
};

const apisFile = {
  $schema: 'fixture: stateless tools',
  server: { url: 'http://127.0.0.1:28414', port: 28414 },
  apis: {
    doc: {
      _comment_required: 'fixture comment',
      _comment_fallback: 'fixture comment',
      seed_path: 'fixture/seed',
      vlm_model: 'fixture-model',
      vlm_api_key: '${AF_FIX_VLM_KEY}',
      vlm_timeout: 5,
    },
    ds: { ds_max_csv: 3, openai_api_key: '${AF_FIX_KEY}', openai_api_url: '${AF_FIX_URL}' },
    text2sql: {
      _comment_databases: 'fixture comment',
      databases: { shop: '${AF_FIX_SHOP_DB:-}', zoo: '${AF_FIX_ZOO_DB:-}' },
    },
    websearch: { serper_api_key: '${AF_FIX_SERPER}', visit_method: 'jina', content_limit: 9 },
  },
};

describe('translation', () => {
  test('rag: server, corpus_path, default_top_k, warmup; only listed resources are on', () => {
    const { config, notices } = load(ragFile(), {
      AF_FIX_CORPUS: corpus(),
      AF_FIX_MODEL: 'fixture-org/not-a-directory',
    });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(28411);
    expect(config.sessions.ttl_seconds).toBe(120);
    expect(config.backends.rag!.enabled).toBe(true);
    expect(config.backends.rag!.indexes.default!.corpus).toEndWith('corpus.jsonl');
    expect(config.backends.rag!.default_top_k).toBe(7);
    expect(config.backends.rag!.embedder).toBeUndefined();
    expect(config.backends.bash!.enabled).toBe(false);
    expect(config.backends.vm!.enabled).toBe(false);
    expect(config.warmup).toEqual({ at_start: true, backends: ['rag'] });
    // index_path's unset variable is no warning: that key means nothing here.
    expect(notices.warnings).toHaveLength(1);
    expect(notices.warnings[0]).toContain('not a local ONNX model directory');
    expect(notices.unavailable).toEqual({});
  });

  test('rag: an unset corpus variable turns rag off with one notice, never a fatal error', () => {
    const { config, notices } = load(ragFile(), {});
    expect(config.backends.rag!.enabled).toBe(false);
    expect(notices.warnings).toEqual([]);
    expect(Object.keys(notices.unavailable)).toEqual(['rag']);
    expect(notices.unavailable.rag).toContain('AF_FIX_CORPUS');
    expect(notices.unavailable.rag).toContain('resources.rag.config.corpus_path');
  });

  test('rag: model_name as a local ONNX directory is the embedder, dense by default', () => {
    const model = join(scratch(), 'fixture-e5-small');
    mkdirSync(model);
    for (const f of ['model.onnx', 'tokenizer.json']) writeFileSync(join(model, f), '');
    const { config, notices } = load(ragFile(), { AF_FIX_CORPUS: corpus(), AF_FIX_MODEL: model });
    expect(config.backends.rag!.embedder).toMatchObject({
      type: 'onnx',
      model_dir: model,
      query_prefix: 'query: ',
      document_prefix: 'passage: ',
    });
    expect(config.backends.rag!.default_mode).toBe('dense');
    expect(notices.warnings).toEqual([]);
  });

  test('rag: an unset model variable leaves BM25 with one warning naming it', () => {
    const { config, notices } = load(ragFile(), { AF_FIX_CORPUS: corpus() });
    expect(config.backends.rag!.enabled).toBe(true);
    expect(config.backends.rag!.embedder).toBeUndefined();
    expect(config.backends.rag!.default_mode).toBe('bm25');
    expect(notices.warnings).toHaveLength(1);
    expect(notices.warnings[0]).toContain('AF_FIX_MODEL');
    expect(notices.warnings[0]).toContain('dense search is off');
  });

  test("vm: provider docker, OSWorld keys ignored, the URL's host and port win", () => {
    const { config, notices } = load(guiFile);
    expect(config.host).toBe('localhost');
    expect(config.port).toBe(28412);
    expect(config.sessions.ttl_seconds).toBe(900);
    expect(config.backends.vm!.enabled).toBe(true);
    expect(config.backends.vm!.default_driver).toBe('docker');
    expect(config.warmup).toEqual({ at_start: true, backends: ['vm'] });
    expect(notices).toEqual({ warnings: [], unavailable: {} });
    const other = structuredClone(guiFile);
    Object.assign(other.resources.vm.config, {
      provider: 'fixture-cloud',
      screen_size: [800, 600],
    });
    const w = load(other).notices.warnings;
    expect(w).toHaveLength(2);
    expect(w.join('\n')).toContain('fixture-cloud');
    expect(w.join('\n')).toContain('screen_size');
  });

  test('resource types this server lacks are reported, never fatal', () => {
    const mcp = load(mcpFile);
    expect(mcp.notices.unavailable).toEqual({
      mcp: 'resource type not available in this server: mcp',
    });
    expect(mcp.config.warmup).toEqual({ at_start: true, backends: [] });
    const apis = load(apisFile);
    // doc and web are served; text2sql too, but its fixture paths are all empty.
    expect(Object.keys(apis.notices.unavailable).sort()).toEqual(['text2sql']);
    // websearch's unset key is a gap, left out with one warning.
    expect(apis.notices.warnings).toEqual([
      'apis.doc.vlm_api_key needs AF_FIX_VLM_KEY, which is not set: no vision model is used, ' +
        'doc:read answers the sections as text',
      'apis.websearch.serper_api_key needs AF_FIX_SERPER, which is not set: left out, so its default applies',
    ]);
    expect(apis.config.backends.web).toMatchObject({
      enabled: true,
      visit_method: 'jina',
      content_limit: 9,
    });
    expect(apis.config.backends.doc).toMatchObject({ enabled: true, seed_path: 'fixture/seed' });
    expect(apis.config.backends.doc!.vlm_model).toBeUndefined();
    // No warmup section: upstream warms nothing at start.
    expect(apis.config.warmup.at_start).toBe(false);
    for (const b of ['bash', 'rag', 'vm'] as const) {
      expect(apis.config.backends[b]!.enabled).toBe(false);
    }
  });

  test('resources.bash (ours) and our own keys beside upstream sections are honoured', () => {
    const { config } = load(
      {
        server: { url: 'http://127.0.0.1:28415', log_level: 'WARNING', cleanup_interval: 5 },
        resources: { bash: { enabled: true, config: { output_limit_bytes: 4096 } } },
        data_dir: '${AF_FIX_DATA:-/tmp/af-fixture-data}',
        sessions: { max_per_worker: 3 },
      },
      {},
    );
    expect(config.backends.bash!.enabled).toBe(true);
    expect(config.backends.bash!.output_limit_bytes).toBe(4096);
    expect(config.data_dir).toBe('/tmp/af-fixture-data');
    expect(config.log_level).toBe('warn');
    expect(config.sessions).toMatchObject({ sweep_interval_seconds: 5, max_per_worker: 3 });
    // Our keys keep our rule: an unset variable there is an error naming it.
    const e = errorOf(() => load({ server: {}, api_key: '${AF_FIX_NO_KEY}' }));
    expect(e).toContain('AF_FIX_NO_KEY');
  });

  test('unknown keys are warnings (upstream ignores them), not errors', () => {
    const { notices } = load({
      server: { url: 'http://127.0.0.1:1', fixture_extra: 1 },
      resources: { rag: { enabled: false, fixture_extra: 1 } },
      fixture_top: 1,
    });
    expect(notices.warnings.join('\n')).toContain('server.fixture_extra');
    expect(notices.warnings.join('\n')).toContain('resources.rag.fixture_extra');
    expect(notices.warnings.join('\n')).toContain('fixture_top');
  });

  test('errors name the upstream field', () => {
    const bad = (server: unknown) => errorOf(() => load({ server }));
    expect(bad({ session_ttl: -1 })).toContain('server.session_ttl');
    expect(bad({ port: 'abc' })).toContain('server.port');
    expect(bad({ url: 'not a url' })).toContain('server.url');
    expect(bad({ url: 'http://127.0.0.1:99999' })).toContain('server.url');
    const rag = ragFile({ default_top_k: 0, workers: 'many' });
    const e = errorOf(() => load(rag, { AF_FIX_CORPUS: corpus() }));
    expect(e).toContain('resources.rag.config.default_top_k');
    expect(e).toContain('resources.rag.config.workers');
    expect(errorOf(() => load({ resources: { rag: { enabled: 'yes' } } }))).toContain(
      'resources.rag.enabled',
    );
    // A bad port from the environment is ours, not the file's.
    const path = file({ server: { port: 28416 } });
    const env = errorOf(() => loadConfig({ configPath: path }, { AGENTFLOW_PORT: '99999' }));
    expect(env).toContain('port');
    expect(env).not.toContain('server.port');
  });

  test('our own format is untouched by the detection', () => {
    const { config, notices } = load({ port: 28417, warmup: { at_start: false } });
    expect(config.port).toBe(28417);
    expect(config.backends.bash!.enabled).toBe(true);
    expect(notices).toEqual({ warnings: [], unavailable: {} });
    expect(errorOf(() => load({ host: '${AF_FIX_UNSET}' }))).toContain('AF_FIX_UNSET');
  });
});

describe('/warmup/status', () => {
  test('lists the unavailable types as never loaded, with why; readiness ignores them', async () => {
    const dataDir = scratch();
    const notices: ConfigNotices = newNotices();
    const config = loadConfig(
      { configPath: file({ ...mcpFile, data_dir: dataDir, log_level: 'silent' }, dataDir) },
      {},
      notices,
    );
    const services = await createServices(config, silentLogger, undefined, undefined, {
      ...notices.unavailable,
    });
    try {
      const app = createApp(services);
      const status = await app.handle(new Request('http://localhost/warmup/status'));
      const body = (await status.json()) as { data: { backends: Record<string, unknown> } };
      expect(body.data.backends.mcp).toEqual({
        loaded: false,
        warmed_up: false,
        error: 'resource type not available in this server: mcp',
      });
      const ready = await app.handle(new Request('http://localhost/ready'));
      expect(ready.status).toBe(200);
    } finally {
      await services.shutdown({ force: true, cleanupSessions: true });
    }
  });
});

const UPSTREAM = process.env.UPSTREAM_CONFIGS ?? '/work/upstream/configs/sandbox-server';
const haveUpstream = existsSync(UPSTREAM);

describe("upstream's own files", () => {
  test.skipIf(!haveUpstream)(
    `every file in ${UPSTREAM} loads${haveUpstream ? '' : ' (skipped: no upstream checkout there; set UPSTREAM_CONFIGS)'}`,
    () => {
      const files = readdirSync(UPSTREAM).filter((f) => f.endsWith('.json'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const notices = newNotices();
        const config = loadConfig({ configPath: join(UPSTREAM, f) }, {}, notices);
        expect({ f, port: config.port }).toEqual({ f, port: 18890 });
        // Whatever the file enables that is not served here is said, once per type.
        for (const [type, why] of Object.entries(notices.unavailable)) {
          expect(why).toContain(type === 'rag' ? 'corpus_path' : type);
        }
      }
    },
  );
});

describe('the real server on an upstream-format config', () => {
  const servers = serverFixture('af-upstream-e2e-');

  test('starts, answers /health, bash:run, rag:search, and reports what it lacks', async () => {
    const dataDir = servers.newDataDir();
    const config = {
      ...ragFile(),
      resources: {
        ...ragFile().resources,
        bash: { enabled: true, description: 'ours', config: {} },
        mcp: mcpFile.resources.mcp,
      },
    };
    const server = await servers.start(dataDir, config, {
      env: { AF_FIX_CORPUS: corpus(dataDir) },
    });
    const health = await fetch(server.url + '/health');
    expect(health.status).toBe(200);
    // warmup.resources names rag: it warms at start, before any call.
    const deadline = Date.now() + 10_000;
    while (!(await server.get('/warmup/status')).body.data.backends.rag.warmed_up) {
      expect(Date.now()).toBeLessThan(deadline);
      await Bun.sleep(25);
    }
    const run = await server.post('/execute', {
      worker_id: 'w1',
      action: 'bash:run',
      params: { command: 'exit 4' },
    });
    expect(run.body.data).toMatchObject({ exit_code: 4, return_code: 4 });
    const search = await server.post('/execute', {
      worker_id: 'w1',
      action: 'rag:search',
      params: { query: 'boil water for tea' },
    });
    expect(search.body.code).toBe(0);
    expect(Object.keys(search.body.data)[0]).toBe('context');
    expect(search.body.data.context).toStartWith('[Kettles]\n');
    expect(search.body.data.results.length).toBeLessThanOrEqual(7);
    const status = await server.get('/warmup/status');
    expect(status.body.data.backends.mcp.error).toContain('not available in this server: mcp');
    expect(server.stderr()).toContain('resource.unavailable');
  });
});
