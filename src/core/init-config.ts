// The sessions a config file on the server's disk asks for (upstream's init/from-config): the
// file's `resources.<type>` entries, after the caller's override_params are merged into it.
import { open } from 'node:fs/promises';
import { ParameterError } from './errors.ts';

/** Larger files are refused: a config is a few kilobytes, and the file is echoed back. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

export interface ConfigFileSessions {
  /** The file's content with the overrides applied. */
  config: Record<string, unknown>;
  /** Resource type → the session config its entry gives (`config`, or `content`, else {}). */
  sessions: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the file and returns its session configs. Errors name the path and what is wrong with it,
 * never what the file holds.
 */
export async function readSessionConfigFile(
  path: string,
  overrides: Record<string, unknown>,
): Promise<ConfigFileSessions> {
  const config = mergeOverrides(await readJsonObject(path), overrides);
  const resources = config.resources;
  if (!isObject(resources)) {
    throw new ParameterError(
      `Config file ${path} has no "resources" object: expected {"resources": {"<type>": {"config": {…}}}}.`,
    );
  }
  const sessions: Record<string, unknown> = {};
  for (const [type, entry] of Object.entries(resources)) {
    // Upstream's files comment with "_"-keys, and switch resources off with enabled: false.
    if (type.startsWith('_') || !isObject(entry) || entry.enabled === false) continue;
    sessions[type] = entry.config ?? entry.content ?? {};
  }
  return { config, sessions };
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    const file = await open(path, 'r');
    try {
      const info = await file.stat();
      if (!info.isFile()) throw new ParameterError(`Config file ${path} is not a regular file.`);
      if (info.size > MAX_CONFIG_FILE_BYTES) {
        throw new ParameterError(
          `Config file ${path} is ${info.size} bytes; the limit is ${MAX_CONFIG_FILE_BYTES}.`,
        );
      }
      text = await file.readFile('utf8');
    } finally {
      await file.close();
    }
  } catch (err) {
    if (err instanceof ParameterError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ParameterError(
      code === 'ENOENT'
        ? `Config file not found: ${path} (a path on the server).`
        : `Config file ${path} cannot be read (${code ?? 'error'}).`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ParameterError(`Config file ${path} is not valid JSON.`);
  }
  if (!isObject(value)) throw new ParameterError(`Config file ${path} must hold a JSON object.`);
  return value;
}

/**
 * Upstream's merge: each override replaces the file's key of that name, or is merged into it one
 * level deep when both are objects; an override the file has no key for is left out.
 */
function mergeOverrides(
  config: Record<string, unknown>,
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...config };
  for (const [key, value] of Object.entries(overrides)) {
    if (!Object.hasOwn(out, key)) continue;
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? { ...current, ...value } : value;
  }
  return out;
}
