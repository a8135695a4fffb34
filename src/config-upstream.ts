// Upstream's config format (the files of OpenDCAI/AgentFlow's configs/sandbox-server: `server`,
// `resources.<type>.{enabled,config}`, `apis`, `warmup`) translated into ours, so those files start
// this server; config.ts validates the result as any config. A ${VAR} with neither value nor
// default is a gap, as upstream keeps the placeholder: what needs it is left out with one warning.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TObject } from '@sinclair/typebox';
import { backendModules } from './backends/index.ts';
import { ConfigError } from './core/errors.ts';

/** What reading the config found worth telling at start-up (the logger comes after the config). */
export interface ConfigNotices {
  warnings: string[];
  /** Resource types the config asks for that this server does not serve, with why. */
  unavailable: Record<string, string>;
}

export const newNotices = (): ConfigNotices => ({ warnings: [], unavailable: {} });

type Json = Record<string, unknown>;
type Expand = (
  value: unknown,
  env: Record<string, string | undefined>,
  path: string,
  onMissing?: (name: string, path: string) => string,
) => unknown;

export interface TranslateOptions {
  env: Record<string, string | undefined>;
  /** config.ts's ${VAR} expansion. */
  expand: Expand;
  /** Top-level keys of our own format: they may sit beside upstream's and win over them. */
  nativeKeys: readonly string[];
  notices: ConfigNotices;
}

export interface Translation {
  config: Json;
  /** Our dotted field → the upstream field it came from, so validation names what the file says. */
  origins: Record<string, string>;
}

/** Upstream's files are told apart by their sections; ours has none of these keys. */
export function isUpstreamFormat(doc: Json): boolean {
  return 'server' in doc || 'resources' in doc || 'apis' in doc;
}

export const unavailableType = (type: string) =>
  `resource type not available in this server: ${type}`;

// Keys upstream reads that mean nothing here (no Faiss index, no batching window, no OSWorld
// provider): ignored without a warning; the README's "Upstream configs" table lists each.
const IGNORED = {
  server: ['title', 'description'],
  resource: ['description', 'backend_class'],
  rag: [
    'index_path',
    'device',
    'batcher_trigger_batch_size',
    'batcher_max_batch_size',
    'batcher_max_wait_time',
  ],
  ds: [
    'summary_model',
    'openai_api_key',
    'openai_api_url',
    'llm_summary_temperature',
    'llm_summary_max_tokens',
    'content_limit',
  ],
  websearch: ['max_workers', 'retry_times'],
  vm: [
    'region',
    'os_type',
    'headless',
    'connection_type',
    'pool_size',
    'setup',
    'pool_reset',
    'snapshot_name',
    'use_proxy',
    'client_password',
    'vm_path',
    'recording',
    'recording_path',
    'server_port',
    'chromium_port',
    'vnc_port',
    'vlc_port',
  ],
};

const LOG_LEVELS: Record<string, string> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'error',
};

const LEFT_OUT = 'left out, so its default applies';

const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);
const skipped = (key: string) => key.startsWith('_') || key === '$schema';
const nativeFields = (type: string): string[] => {
  const m = backendModules.find((b) => b.name === type);
  return m ? Object.keys((m.configSchema as TObject).properties) : [];
};

/** An ONNX model directory as the rag embedder loads it (see backends/rag/onnx.ts). */
const isOnnxDir = (dir: string) =>
  existsSync(join(dir, 'model.onnx')) && existsSync(join(dir, 'tokenizer.json'));

class Translator {
  readonly config: Json = {};
  readonly origins: Record<string, string> = {};
  /** Upstream path → the unset variables its string needs. */
  private readonly gaps = new Map<string, string[]>();

  constructor(private readonly o: TranslateOptions) {}

  warn(message: string): void {
    this.o.notices.warnings.push(message);
  }

  /** Expands a section leniently, remembering where variables were missing. */
  lenient(value: unknown, path: string): unknown {
    return this.o.expand(value, this.o.env, path, (name, at) => {
      this.gaps.set(at, [...(this.gaps.get(at) ?? []), name]);
      return `\${${name}}`;
    });
  }

  /** True (after warning) when the field needs an unset variable: the caller leaves it out. */
  gap(path: string, consequence: string): boolean {
    const names = this.gaps.get(path);
    if (!names) return false;
    this.warn(`${path} needs ${names.join(', ')}, which is not set: ${consequence}`);
    return true;
  }

  gapVars(path: string): string[] | undefined {
    return this.gaps.get(path);
  }

  set(ours: string, value: unknown, from?: string): void {
    const keys = ours.split('.');
    let node = this.config;
    for (const k of keys.slice(0, -1)) node = (node[k] = isObject(node[k]) ? node[k] : {}) as Json;
    node[keys.at(-1)!] = value;
    if (from) this.origins[ours] = from;
  }

  /** Our own fields in an upstream section (e.g. `workers` under resources.rag.config). */
  native(ours: string, value: unknown, from: string): void {
    if (!this.gap(from, LEFT_OUT)) this.set(ours, value, from);
  }

  unknown(path: string): void {
    this.warn(`${path} is not a setting upstream or this server knows: ignored`);
  }

  server(s: Json): void {
    // url last: its host and port win over host and port, as in upstream's start script.
    const entries = Object.entries(s).sort(([a], [b]) => Number(a === 'url') - Number(b === 'url'));
    for (const [k, v] of entries) {
      const path = `server.${k}`;
      if (skipped(k) || IGNORED.server.includes(k) || this.gap(path, LEFT_OUT)) continue;
      if (k === 'url') this.url(v, path);
      else if (k === 'host') this.set('host', v, path);
      else if (k === 'port') this.set('port', v, path);
      else if (k === 'session_ttl') this.set('sessions.ttl_seconds', v, path);
      else if (k === 'cleanup_interval') this.set('sessions.sweep_interval_seconds', v, path);
      else if (k === 'log_level') {
        this.set('log_level', LOG_LEVELS[String(v).toLowerCase()] ?? v, path);
      } else this.unknown(path);
    }
  }

  /** Upstream's start script takes the bind host from the URL, and its port when it has one. */
  private url(v: unknown, path: string): void {
    const m =
      typeof v === 'string'
        ? /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?/i.exec(v)
        : null;
    if (!m) {
      throw new ConfigError(
        `${path}: ${JSON.stringify(v)} is not a URL like http://127.0.0.1:18890`,
      );
    }
    const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
    if (host) this.set('host', host, path);
    if (m[2]) this.set('port', Number(m[2]), path);
  }

  resources(resources: Json): void {
    const listed = new Set<string>();
    for (const [type, res] of Object.entries(resources)) {
      if (skipped(type)) continue;
      const base = `resources.${type}`;
      if (!isObject(res)) throw new ConfigError(`${base}: must be an object {enabled, config}`);
      for (const k of Object.keys(res)) {
        if (!skipped(k) && !['enabled', 'config', ...IGNORED.resource].includes(k)) {
          this.unknown(`${base}.${k}`);
        }
      }
      const enabled = res.enabled ?? true;
      if (typeof enabled !== 'boolean') {
        throw new ConfigError(`${base}.enabled: must be true or false`);
      }
      const config = res.config ?? {};
      if (!isObject(config)) throw new ConfigError(`${base}.config: must be an object`);
      if (!nativeFields(type).length) {
        if (enabled) this.o.notices.unavailable[type] = unavailableType(type);
        continue;
      }
      listed.add(type);
      this.set(`backends.${type}.enabled`, enabled, `${base}.enabled`);
      if (!enabled) continue;
      if (type === 'rag') this.rag(config, `${base}.config`);
      else if (type === 'vm') this.vm(config, `${base}.config`);
      else this.passThrough(type, config, `${base}.config`, []);
    }
    // Upstream serves what its file lists and nothing else; so does this server.
    for (const m of backendModules) {
      if (!listed.has(m.name)) this.set(`backends.${m.name}.enabled`, false);
    }
  }

  private passThrough(type: string, config: Json, base: string, ignored: string[]): void {
    const fields = nativeFields(type);
    for (const [k, v] of Object.entries(config)) {
      const path = `${base}.${k}`;
      if (skipped(k) || ignored.includes(k)) continue;
      if (fields.includes(k) && k !== 'enabled') this.native(`backends.${type}.${k}`, v, path);
      else this.unknown(path);
    }
  }

  private rag(config: Json, base: string): void {
    const { corpus_path, model_name, default_top_k, ...rest } = config;
    const at = (k: string) => `${base}.${k}`;
    if (corpus_path !== undefined) {
      const vars = this.gapVars(at('corpus_path'));
      if (vars) {
        // Without its corpus the resource has nothing to serve: off, and said so once.
        this.set('backends.rag.enabled', false);
        this.o.notices.unavailable.rag =
          `${at('corpus_path')} needs ${vars.join(', ')}, which is not set: set it to the ` +
          'corpus (JSONL) to turn rag on';
        return;
      } else {
        this.set('backends.rag.indexes.default.corpus', corpus_path, at('corpus_path'));
      }
    }
    if (default_top_k !== undefined) {
      this.native('backends.rag.default_top_k', default_top_k, at('default_top_k'));
    }
    if (model_name !== undefined && !this.gap(at('model_name'), 'dense search is off (BM25)')) {
      if (typeof model_name === 'string' && isOnnxDir(model_name)) {
        // E5 models are trained with these prefixes; upstream adds the query one for them too.
        const e5 = model_name.toLowerCase().includes('e5');
        this.set(
          'backends.rag.embedder',
          {
            type: 'onnx',
            model_dir: model_name,
            query_prefix: e5 ? 'query: ' : '',
            document_prefix: e5 ? 'passage: ' : '',
          },
          at('model_name'),
        );
        // Upstream's search is dense-only.
        this.set('backends.rag.default_mode', 'dense', at('model_name'));
      } else {
        this.warn(
          `${at('model_name')} ${JSON.stringify(model_name)} is not a local ONNX model directory ` +
            '(model.onnx and tokenizer.json): dense search is off, rag:search uses BM25',
        );
      }
    }
    this.passThrough('rag', rest, base, IGNORED.rag);
  }

  private vm(config: Json, base: string): void {
    const { provider, screen_size, ...rest } = config;
    const at = (k: string) => `${base}.${k}`;
    if (provider !== undefined && !this.gap(at('provider'), 'the docker driver is used')) {
      if (provider === 'docker') this.set('backends.vm.default_driver', 'docker', at('provider'));
      else {
        this.warn(
          `${at('provider')} ${JSON.stringify(provider)} has no counterpart here: sessions run ` +
            "on the docker driver (the project's desktop image)",
        );
      }
    }
    const def = [1920, 1080];
    if (screen_size !== undefined && !Bun.deepEquals(screen_size, def)) {
      this.warn(
        `${at('screen_size')} is per session here: give screen_size in the session config ` +
          '(the default stays [1920, 1080])',
      );
    }
    this.passThrough('vm', rest, base, IGNORED.vm);
  }

  apis(apis: Json): void {
    for (const [type, section] of Object.entries(apis)) {
      if (skipped(type)) continue;
      if (type === 'ds' && isObject(section)) this.ds(section, `apis.${type}`);
      else if (type === 'websearch' && isObject(section)) {
        // Upstream's websearch keys are the web backend's own, under the same names.
        this.set('backends.web.enabled', true, `apis.${type}`);
        this.passThrough('web', section, `apis.${type}`, IGNORED.websearch);
      } else if (type === 'text2sql' && isObject(section)) this.text2sql(section, `apis.${type}`);
      else if (type === 'doc' && isObject(section) && nativeFields('doc').length) {
        this.doc(section, `apis.${type}`);
      } else this.o.notices.unavailable[type] = unavailableType(type);
    }
  }

  /** Upstream's `databases` (or `db_paths`): an empty path (an unset `${VAR:-}`) is left out. */
  private text2sql(config: Json, base: string): void {
    const { databases, db_paths, ...rest } = config;
    const key = databases !== undefined ? 'databases' : 'db_paths';
    const dbs = databases ?? db_paths ?? {};
    if (!isObject(dbs)) throw new ConfigError(`${base}.${key}: must be an object {name: path}`);
    const kept: Json = {};
    for (const [id, path] of Object.entries(dbs)) {
      const at = `${base}.${key}.${id}`;
      if (skipped(id) || this.gap(at, 'that database is left out')) continue;
      // Upstream's shipped file leaves every path empty on purpose: no warning for each.
      if (path !== '') kept[id] = path;
    }
    this.set('backends.text2sql.enabled', true);
    this.set('backends.text2sql.databases', kept, `${base}.${key}`);
    if (Object.keys(kept).length === 0) {
      this.o.notices.unavailable.text2sql = `${base}.${key} names no database file: set the paths (or their variables) to turn text2sql on`;
    }
    this.passThrough('text2sql', rest, base, []);
  }

  /** Upstream's doc keys are ours; a VLM without its key stays off (doc:read answers raw text). */
  private doc(config: Json, base: string): void {
    this.set('backends.doc.enabled', true);
    const vlmKeyMissing = this.gapVars(`${base}.vlm_api_key`);
    for (const [k, v] of Object.entries(config)) {
      const path = `${base}.${k}`;
      if (skipped(k)) continue;
      if (vlmKeyMissing && k.startsWith('vlm_')) continue;
      if (nativeFields('doc').includes(k) && k !== 'enabled')
        this.native(`backends.doc.${k}`, v, path);
      else this.unknown(path);
    }
    if (vlmKeyMissing) {
      this.warn(
        `${base}.vlm_api_key needs ${vlmKeyMissing.join(', ')}, which is not set: no vision ` +
          'model is used, doc:read answers the sections as text',
      );
    }
  }

  /** Upstream's ds tools are served by our ds backend; its LLM summary is not. */
  private ds(section: Json, base: string): void {
    this.set('backends.ds.enabled', true, base);
    const { enable_llm_summary, ...rest } = section;
    if (enable_llm_summary === true) {
      this.warn(
        `${base}.enable_llm_summary: no model summarises ds results here; the full text is ` +
          'returned (capped by ds_summary_max_chars and output_limit_bytes)',
      );
    }
    this.passThrough('ds', rest, base, IGNORED.ds);
  }

  warmup(w: Json): void {
    for (const [k, v] of Object.entries(w)) {
      const path = `warmup.${k}`;
      if (skipped(k)) continue;
      if (k === 'enabled') this.set('warmup.at_start', v, path);
      else if (k === 'resources') {
        if (!Array.isArray(v)) throw new ConfigError(`${path}: must be a list of resource types`);
        const ours = new Set(backendModules.map((m) => m.name as string));
        this.set(
          'warmup.backends',
          v.filter((name) => ours.has(name)),
          path,
        );
      } else this.set(path, v, path);
    }
    // Upstream warms nothing at start unless told.
    if (!('enabled' in w)) this.set('warmup.at_start', false);
  }
}

/** Deep-merges `src` over `dst` (arrays replace), forgetting the origin of every field it sets. */
function mergeOver(dst: Json, src: Json, path: string, origins: Record<string, string>): void {
  for (const [k, v] of Object.entries(src)) {
    const at = path ? `${path}.${k}` : k;
    if (isObject(v) && isObject(dst[k])) mergeOver(dst[k] as Json, v, at, origins);
    else {
      dst[k] = v;
      for (const o of Object.keys(origins))
        if (o === at || o.startsWith(`${at}.`)) delete origins[o];
    }
  }
}

export function translateUpstream(doc: Json, o: TranslateOptions): Translation {
  const t = new Translator(o);
  const section = (key: string): Json => {
    const v = t.lenient(doc[key] ?? {}, key);
    if (!isObject(v)) throw new ConfigError(`${key}: must be an object`);
    return v;
  };
  t.server(section('server'));
  t.resources(section('resources'));
  t.apis(section('apis'));
  t.warmup(section('warmup'));
  if ('security' in doc) {
    t.warn(
      'security is not read by this server (upstream does not enforce it either): set api_key ' +
        'or AGENTFLOW_API_KEY to require keys',
    );
  }
  const handled = ['server', 'resources', 'apis', 'warmup', 'security', 'tools'];
  for (const [k, v] of Object.entries(doc)) {
    if (skipped(k) || handled.includes(k)) continue;
    if (!o.nativeKeys.includes(k)) {
      t.unknown(k);
      continue;
    }
    // Our own settings beside upstream's: expanded strictly, as in our format, and they win.
    mergeOver(t.config, { [k]: o.expand(v, o.env, k) }, '', t.origins);
  }
  return { config: t.config, origins: t.origins };
}

/** Rewrites the field names of a validation message ("a.b: …; c: …") to upstream's. */
export function renameFields(message: string, origins: Record<string, string>): string {
  const upstream = (field: string): string => {
    if (origins[field]) return origins[field];
    for (const [ours, theirs] of Object.entries(origins)) {
      if (field.startsWith(`${ours}.`)) return theirs + field.slice(ours.length);
    }
    return field;
  };
  return message
    .split('; ')
    .map((part) => {
      const i = part.indexOf(': ');
      return i < 0 ? part : upstream(part.slice(0, i)) + part.slice(i);
    })
    .join('; ');
}
