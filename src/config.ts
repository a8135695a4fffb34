// The server configuration (SPEC §7): a TypeBox schema with embedded defaults, a JSON file with
// ${VAR} / ${VAR:-default} expansion, environment overrides, and errors that name the bad field.
// A file in upstream's format is translated first (config-upstream.ts), then validated the same.
import { Type as t, type Static, type TSchema } from '@sinclair/typebox';
import { readFileSync } from 'node:fs';
import { backendModules } from './backends/index.ts';
import {
  isUpstreamFormat,
  newNotices,
  renameFields,
  translateUpstream,
  type ConfigNotices,
} from './config-upstream.ts';
import { ConfigError } from './core/errors.ts';
import { compileValidator } from './core/validate.ts';

const backendsSchema = t.Object(
  Object.fromEntries(backendModules.map((m) => [m.name, m.configSchema])) as {
    [M in (typeof backendModules)[number] as M['name']]: M['configSchema'];
  },
  { additionalProperties: false, default: {} },
);

const section = <T extends Parameters<typeof t.Object>[0]>(props: T) =>
  t.Object(props, { additionalProperties: false, default: {} });

export const configSchema = t.Object(
  {
    host: t.String({ default: '127.0.0.1', minLength: 1 }),
    port: t.Integer({ default: 18890, minimum: 0, maximum: 65535 }),
    data_dir: t.String({ default: './data', minLength: 1 }),
    log_level: t.Union(
      ['debug', 'info', 'warn', 'error', 'silent'].map((l) => t.Literal(l)),
      { default: 'info' },
    ),
    api_key: t.Optional(
      t.String({
        minLength: 16,
        description: 'Admin API key (SPEC §8); AGENTFLOW_API_KEY sets it',
      }),
    ),
    api_keys: t.Array(
      t.Object(
        {
          key: t.String({ minLength: 16 }),
          name: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          scope: t.Union([t.Literal('admin'), t.Literal('worker')], { default: 'worker' }),
          workers: t.String({
            default: '*',
            minLength: 1,
            description: 'Worker ids this key may act for (glob: * and ?)',
          }),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'More API keys, with scopes' },
    ),
    sessions: section({
      ttl_seconds: t.Number({ default: 300, exclusiveMinimum: 0 }),
      sweep_interval_seconds: t.Number({ default: 1, exclusiveMinimum: 0 }),
      max_total: t.Integer({
        default: 4096,
        minimum: 1,
        description: 'Sessions (stored and temporary) open at once; more answer 2004',
      }),
      max_per_worker: t.Integer({
        default: 8,
        minimum: 1,
        description: 'Sessions one worker may hold (besides one temporary per call)',
      }),
      max_per_type: t.Record(t.String({ minLength: 1 }), t.Integer({ minimum: 1 }), {
        default: {},
        description:
          'Sessions of one resource type open at once (stored and temporary), e.g. {"vm": 16}',
      }),
    }),
    execution: section({
      default_timeout_seconds: t.Number({ default: 60, exclusiveMinimum: 0 }),
      max_timeout_seconds: t.Number({ default: 3600, exclusiveMinimum: 0 }),
      grace_seconds: t.Number({
        default: 2,
        minimum: 0,
        description:
          'How long a tool may overrun its timeout while stopping before it is abandoned',
      }),
      strict_params: t.Boolean({
        default: false,
        description: 'Unknown tool params and session-config keys are a 1002 instead of ignored',
      }),
    }),
    limits: section({
      max_body_bytes: t.Integer({ default: 16 * 1024 * 1024, minimum: 1024 }),
      max_batch_actions: t.Integer({ default: 100, minimum: 1 }),
    }),
    mcp: section({
      max_sessions: t.Integer({
        default: 256,
        minimum: 1,
        description: 'MCP sessions open at once on /mcp; a new one past it answers 2004',
      }),
      idle_timeout_seconds: t.Number({
        default: 1800,
        exclusiveMinimum: 0,
        description: 'An MCP session with no request for this long is ended',
      }),
    }),
    shutdown: section({
      drain_timeout_seconds: t.Number({ default: 30, minimum: 0 }),
    }),
    warmup: section({
      at_start: t.Boolean({
        default: true,
        description: 'Warm every backend when the server starts',
      }),
      backends: t.Optional(
        t.Array(t.Union(backendModules.map((m) => t.Literal(m.name))), {
          description: 'The backends at_start warms (default: every enabled one)',
        }),
      ),
    }),
    backends: backendsSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof configSchema>;

const validator = compileValidator(configSchema);

const missingVar = (name: string, path: string): string => {
  throw new ConfigError(`config ${path || '(root)'}: environment variable ${name} is not set`);
};

/**
 * Expands ${VAR} and ${VAR:-default} in every string of a parsed JSON value. A variable with
 * neither is an error, unless `onMissing` says what to put instead (upstream's format keeps it).
 */
export function expandVars(
  value: unknown,
  env: Record<string, string | undefined>,
  path = '',
  onMissing: (name: string, path: string) => string = missingVar,
): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_, name: string, def?: string) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (def !== undefined) return def;
        return onMissing(name, path);
      },
    );
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => expandVars(v, env, `${path}[${i}]`, onMissing));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        expandVars(v, env, path ? `${path}.${k}` : k, onMissing),
      ]),
    );
  }
  return value;
}

export interface ConfigOverrides {
  configPath?: string;
  host?: string;
  port?: string;
  dataDir?: string;
}

/** A number when the text is one, else the text itself (so validation names the bad field). */
const numeric = (s: string): number | string => (/^\d+$/.test(s) ? Number(s) : s);

export function loadConfig(
  overrides: ConfigOverrides = {},
  env: Record<string, string | undefined> = process.env,
  /** Filled with what start-up should log (upstream-format translation, unavailable types). */
  notices: ConfigNotices = newNotices(),
): Config {
  const path = overrides.configPath ?? env.AGENTFLOW_CONFIG;
  let raw: Record<string, unknown> = {};
  let origins: Record<string, string> = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${path} must hold a JSON object`);
    }
    try {
      if (isUpstreamFormat(parsed as Record<string, unknown>)) {
        ({ config: raw, origins } = translateUpstream(parsed as Record<string, unknown>, {
          env,
          expand: expandVars,
          nativeKeys: Object.keys(configSchema.properties),
          notices,
        }));
      } else {
        raw = expandVars(parsed, env) as Record<string, unknown>;
      }
    } catch (err) {
      throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
    }
  }
  const host = overrides.host ?? env.AGENTFLOW_HOST;
  const port = overrides.port ?? env.AGENTFLOW_PORT;
  const dataDir = overrides.dataDir ?? env.AGENTFLOW_DATA_DIR;
  if (host !== undefined) raw.host = host;
  if (port !== undefined) raw.port = numeric(port);
  if (dataDir !== undefined) raw.data_dir = dataDir;
  if (env.AGENTFLOW_API_KEY) raw.api_key = env.AGENTFLOW_API_KEY;
  if (host !== undefined) delete origins.host;
  if (port !== undefined) delete origins.port;
  const where = path ? `config ${path}` : 'config';
  const config = validator.parse(
    raw,
    (msg) => new ConfigError(`${where}: ${renameFields(msg, origins)}`),
  );
  if (config.execution.default_timeout_seconds > config.execution.max_timeout_seconds) {
    throw new ConfigError(
      `${where}: execution.default_timeout_seconds must not exceed execution.max_timeout_seconds`,
    );
  }
  return config;
}

/** The JSON Schema of the config, for documentation. */
export function configJsonSchema(): TSchema {
  return JSON.parse(JSON.stringify(configSchema));
}
