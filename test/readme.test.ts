// The README's configuration reference stays in step with the config schema: every field of
// src/config.ts (backend sections included) has a row with its default, no row names a field that
// does not exist, the example config is valid, and the CLI flags and metrics are all documented.
import { expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, loadConfig } from '../src/config.ts';
import { createMetrics } from '../src/observability.ts';
import { ROOT, cleanupServers, tempDir } from './helpers.ts';

const README = await Bun.file(join(ROOT, 'README.md')).text();

/** A node of the config schema, read as the JSON Schema TypeBox builds. */
interface Node {
  type?: string;
  properties?: Record<string, Node>;
  required?: string[];
  patternProperties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
  default?: unknown;
}

interface Field {
  /** Dotted path: `sessions.ttl_seconds`, `api_keys[].scope`, `backends.rag.indexes.<name>.corpus`. */
  path: string;
  /** Every default the field has (two when union variants differ, e.g. embedder batch sizes). */
  defaults: unknown[];
  required: boolean;
}

const isObject = (n: Node | undefined): boolean => !!n && n.type === 'object' && !!n.properties;
const objectVariants = (n: Node): Node[] => (n.anyOf ?? []).filter(isObject);
const recordValue = (n: Node): Node | undefined =>
  n.type === 'object' && n.patternProperties ? Object.values(n.patternProperties)[0] : undefined;

/**
 * Walks the schema. Plain sections (`sessions`, `backends.bash.limits`) only hold fields; lists,
 * maps and unions of objects are fields themselves and their members are listed under them.
 */
function walk(node: Node, path: string, required: boolean, out: Map<string, Field>): void {
  const add = () => {
    const f = out.get(path) ?? { path, defaults: [], required };
    if ('default' in node && !f.defaults.some((d) => Bun.deepEquals(d, node.default))) {
      f.defaults.push(node.default);
    }
    out.set(path, f);
  };
  const members = (obj: Node, prefix: string) => {
    for (const [key, child] of Object.entries(obj.properties!)) {
      walk(child, `${prefix}.${key}`, obj.required?.includes(key) ?? false, out);
    }
  };
  if (isObject(node)) {
    if (path === '') {
      for (const [key, child] of Object.entries(node.properties!)) {
        walk(child, key, node.required?.includes(key) ?? false, out);
      }
    } else {
      members(node, path);
    }
    return;
  }
  add();
  if (node.type === 'array' && isObject(node.items)) members(node.items!, `${path}[]`);
  const value = recordValue(node);
  if (isObject(value)) members(value!, `${path}.<name>`);
  for (const variant of objectVariants(node)) members(variant, path);
}

function schemaFields(): Map<string, Field> {
  const out = new Map<string, Field>();
  walk(JSON.parse(JSON.stringify(configSchema)) as Node, '', true, out);
  return out;
}

/** The rows of every `| field | type | default | meaning |` table of the README. */
function documentedRows(): Map<string, { type: string; default: string; meaning: string }> {
  const rows = new Map<string, { type: string; default: string; meaning: string }>();
  let inTable = false;
  for (const line of README.split('\n')) {
    const cells = line.startsWith('|')
      ? line
          .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
          .split(/(?<!\\)\|/)
          .map((c) => c.trim())
      : null;
    if (!cells) {
      inTable = false;
      continue;
    }
    if (cells.join('|') === 'field|type|default|meaning') {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0]!.replace(/:/g, ''))) continue;
    const m = /^`([^`]+)`$/.exec(cells[0]!);
    if (!m) throw new Error(`README config table row without a \`field\`: ${line}`);
    if (rows.has(m[1]!)) throw new Error(`README documents ${m[1]} twice`);
    rows.set(m[1]!, { type: cells[1]!, default: cells[2]!, meaning: cells[3] ?? '' });
  }
  return rows;
}

/** How a default is written in the README's default column. */
function rendered(value: unknown): string {
  if (value === '') return '`""`';
  return '`' + (typeof value === 'string' ? value : JSON.stringify(value)) + '`';
}

const fields = schemaFields();
const rows = documentedRows();

test('the walk finds the fields it should (sanity)', () => {
  for (const path of [
    'port',
    'api_keys[].workers',
    'sessions.max_per_worker',
    'backends.bash.limits.file_size_mb',
    'backends.rag.indexes.<name>.chunk_chars',
    'backends.rag.embedder.model_dir',
  ]) {
    expect(fields.has(path)).toBe(true);
  }
  expect(fields.has('sessions')).toBe(false);
  expect(fields.get('backends.rag.embedder.batch_size')!.defaults.sort()).toEqual([16, 64]);
});

test('every config field is in the README configuration reference', () => {
  const missing = [...fields.keys()].filter((p) => !rows.has(p));
  expect(missing).toEqual([]);
  // And mentioned by its full dotted path somewhere in the text.
  for (const path of fields.keys()) expect(README).toContain(`\`${path}\``);
});

test('the reference names no field the schema does not have', () => {
  const stale = [...rows.keys()].filter((p) => !fields.has(p));
  expect(stale).toEqual([]);
});

test('defaults in the reference match the schema', () => {
  const wrong: string[] = [];
  for (const f of fields.values()) {
    const row = rows.get(f.path);
    if (!row) continue;
    if (f.defaults.length === 0) {
      const expected = f.required ? 'required' : 'unset';
      if (!row.default.startsWith(expected)) {
        wrong.push(`${f.path}: default column "${row.default}" should say ${expected}`);
      }
      continue;
    }
    for (const d of f.defaults) {
      if (!row.default.includes(rendered(d))) {
        wrong.push(`${f.path}: default column "${row.default}" lacks ${rendered(d)}`);
      }
    }
  }
  expect(wrong).toEqual([]);
});

test('every row has a type and a meaning', () => {
  for (const [path, row] of rows) {
    expect({ path, type: row.type !== '', meaning: row.meaning.length > 5 }).toEqual({
      path,
      type: true,
      meaning: true,
    });
  }
});

test('the example config of the README is valid', async () => {
  const block = /<!-- example-config -->\s*```json\n([\s\S]*?)```/.exec(README);
  expect(block).not.toBeNull();
  const dir = tempDir('af-readme-');
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, block![1]!);
    // Every ${VAR} without a default must be set, like an operator would.
    const env: Record<string, string> = {};
    for (const m of block![1]!.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      env[m[1]!] = 'x'.repeat(24);
    }
    expect(() => loadConfig({ configPath: file }, env)).not.toThrow();
  } finally {
    await cleanupServers([], [dir]);
  }
});

test('every CLI flag and environment override is documented', () => {
  const help = Bun.spawnSync(['bun', 'run', join(ROOT, 'src/main.ts'), '--help']);
  const flags = [...help.stdout.toString().matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1]!);
  expect(flags.length).toBeGreaterThan(5);
  for (const flag of flags) expect(README).toContain(`\`${flag}`);
  for (const name of [
    'AGENTFLOW_CONFIG',
    'AGENTFLOW_HOST',
    'AGENTFLOW_PORT',
    'AGENTFLOW_DATA_DIR',
    'AGENTFLOW_API_KEY',
  ]) {
    expect(README).toContain(`\`${name}\``);
  }
});

test('every metric of /metrics is documented', () => {
  const metrics = createMetrics();
  metrics.watch({ list: () => [] } as never, { status: () => ({}) } as never, []);
  const names = [...metrics.registry.render().matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!);
  expect(names.length).toBeGreaterThan(5);
  for (const name of names) expect(README).toContain(`\`${name}\``);
});
