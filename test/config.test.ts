// Configuration: embedded defaults, ${VAR} expansion, env overrides, errors naming the bad field.
import { describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandVars, loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/core/errors.ts';
import { tempDir } from './helpers.ts';

function file(content: unknown): string {
  const path = join(tempDir(), 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const errorOf = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  test('embedded defaults with no file and no env', () => {
    const c = loadConfig({}, {});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(18890);
    expect(c.data_dir).toBe('./data');
    expect(c.sessions.ttl_seconds).toBe(300);
    expect(c.execution.default_timeout_seconds).toBe(60);
    expect(c.backends.bash!.enabled).toBe(true);
    expect(c.backends.bash!.output_limit_bytes).toBe(1024 * 1024);
  });

  test('${VAR} and ${VAR:-default} are expanded', () => {
    const path = file({
      host: '${HOST_X}',
      data_dir: '${DIR_X:-/tmp/fallback}',
      sessions: { ttl_seconds: 10 },
    });
    const c = loadConfig({ configPath: path }, { HOST_X: '0.0.0.0' });
    expect(c.host).toBe('0.0.0.0');
    expect(c.data_dir).toBe('/tmp/fallback');
    expect(expandVars({ a: ['x${A}y'] }, { A: '1' })).toEqual({ a: ['x1y'] });
  });

  test('an unset variable without default names it', () => {
    const e = errorOf(() => loadConfig({ configPath: file({ host: '${NOPE_VAR}' }) }, {}));
    expect(e.message).toContain('NOPE_VAR');
    expect(e.message).toContain('host');
  });

  test('environment and flags override the file', () => {
    const path = file({ port: 1000, host: 'a' });
    const c = loadConfig(
      { configPath: path, host: 'flag-host' },
      { AGENTFLOW_PORT: '2000', AGENTFLOW_DATA_DIR: '/tmp/x', AGENTFLOW_API_KEY: 'k'.repeat(20) },
    );
    expect(c.port).toBe(2000);
    expect(c.host).toBe('flag-host');
    expect(c.data_dir).toBe('/tmp/x');
    expect(c.api_key).toBe('k'.repeat(20));
  });

  test('AGENTFLOW_CONFIG names the file', () => {
    const c = loadConfig({}, { AGENTFLOW_CONFIG: file({ port: 3333 }) });
    expect(c.port).toBe(3333);
  });

  test('bad values name the field', () => {
    expect(errorOf(() => loadConfig({ configPath: file({ port: 'abc' }) }, {})).message).toContain(
      'port',
    );
    expect(errorOf(() => loadConfig({}, { AGENTFLOW_PORT: '99999' })).message).toContain('port');
    expect(
      errorOf(() => loadConfig({ configPath: file({ sessions: { ttl_seconds: -1 } }) }, {}))
        .message,
    ).toContain('sessions.ttl_seconds');
    expect(
      errorOf(() =>
        loadConfig({ configPath: file({ backends: { bash: { output_limit_bytes: 'x' } } }) }, {}),
      ).message,
    ).toContain('backends.bash.output_limit_bytes');
  });

  test('unknown fields are refused (typos do not pass silently)', () => {
    const e = errorOf(() => loadConfig({ configPath: file({ sesions: {} }) }, {}));
    expect(e.message).toContain('sesions');
  });

  test('missing file, invalid JSON, non-object', () => {
    expect(errorOf(() => loadConfig({ configPath: '/no/such/file.json' }, {})).message).toContain(
      '/no/such/file.json',
    );
    expect(errorOf(() => loadConfig({ configPath: file('{oops') }, {})).message).toContain(
      'not valid JSON',
    );
    expect(errorOf(() => loadConfig({ configPath: file('[1]') }, {})).message).toContain(
      'JSON object',
    );
  });

  test('default timeout above the maximum is refused', () => {
    const path = file({ execution: { default_timeout_seconds: 100, max_timeout_seconds: 10 } });
    expect(errorOf(() => loadConfig({ configPath: path }, {})).message).toContain(
      'default_timeout_seconds',
    );
  });
});
