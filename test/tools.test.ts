// The tool registry: name resolution of SPEC §4, ambiguity, params validation with defaults.
import { expect, test } from 'bun:test';
import { t } from 'elysia';
import type { Backend } from '../src/backends/backend.ts';
import { ParameterError, ToolNotFoundError } from '../src/core/errors.ts';
import { ToolRegistry } from '../src/core/tools.ts';

const tool = (name: string) => ({
  name,
  description: `${name} tool`,
  params: t.Object({ n: t.Integer({ default: 1 }) }, { additionalProperties: false }),
  run: async (p: { n: number }) => p.n,
});
const backend = (name: string, tools: string[], session = true): Backend =>
  ({
    name,
    description: name,
    tools: tools.map(tool),
    ...(session ? { sessionConfig: t.Object({}) } : {}),
  }) as Backend;

const registry = new ToolRegistry([
  backend('alpha', ['go', 'only_alpha']),
  backend('beta', ['go'], false),
]);

test('every accepted spelling resolves', () => {
  for (const name of ['alpha:go', 'alpha.go', 'alpha_go', 'alpha-go', 'alpha__go']) {
    expect(registry.resolve(name).fullName).toBe('alpha:go');
  }
  expect(registry.resolve('only_alpha').fullName).toBe('alpha:only_alpha');
  expect(registry.resolve('beta:go').needsSession).toBe(false);
  expect(registry.resolve('alpha:go').needsSession).toBe(true);
});

test('a bare name shared by two tools is ambiguous; unknown names are 1001', () => {
  expect(() => registry.resolve('go')).toThrow(ToolNotFoundError);
  expect(() => registry.resolve('go')).toThrow(/alpha:go, beta:go/);
  expect(() => registry.resolve('gamma:go')).toThrow(ToolNotFoundError);
});

test('params get defaults and are validated with the field named', () => {
  const go = registry.resolve('alpha:go');
  expect(go.parseParams({})).toEqual({ params: { n: 1 }, ignored: [] });
  expect(() => go.parseParams({ n: 'x' })).toThrow(ParameterError);
  expect(() => go.parseParams({ n: 'x' })).toThrow(/n:/);
});

test('unknown params are dropped and listed (upstream tools take **kwargs); strict refuses them', () => {
  const go = registry.resolve('alpha:go');
  const input = { n: 2, seed_path: '/data/seed.jsonl', extra: { a: 1 } };
  expect(go.parseParams(input)).toEqual({ params: { n: 2 }, ignored: ['seed_path', 'extra'] });
  // The caller's object is left as it was.
  expect(Object.keys(input)).toEqual(['n', 'seed_path', 'extra']);
  // A known param of the wrong type stays an error, whatever else comes with it.
  expect(() => go.parseParams({ n: 'x', seed_path: 'y' })).toThrow(/n:/);
  const strict = new ToolRegistry([backend('alpha', ['go'])], { strictParams: true });
  expect(() => strict.resolve('alpha:go').parseParams({ extra: 1 })).toThrow(ParameterError);
  expect(() => strict.resolve('alpha:go').parseParams({ extra: 1 })).toThrow(/extra/);
});

test('nested closed objects lose unknown keys too, by their dotted path', () => {
  const nested = new ToolRegistry([
    {
      name: 'n',
      description: 'n',
      tools: [
        {
          name: 'deep',
          description: 'deep',
          params: t.Object(
            {
              opts: t.Object({ k: t.Optional(t.String()) }, { additionalProperties: false }),
              env: t.Optional(t.Record(t.String(), t.String())),
            },
            { additionalProperties: false },
          ),
          run: async () => null,
        },
      ],
    } as Backend,
  ]);
  const deep = nested.resolve('n:deep');
  expect(deep.parseParams({ opts: { k: 'v', x: 1 }, env: { ANY: 'kept' } })).toEqual({
    params: { opts: { k: 'v' }, env: { ANY: 'kept' } },
    ignored: ['opts.x'],
  });
});

test('OpenAI export replaces ":" with "__"', () => {
  const fn = registry.toOpenAi(registry.resolve('alpha:go'));
  expect(fn).toEqual({
    type: 'function',
    function: {
      name: 'alpha__go',
      description: 'go tool',
      parameters: expect.objectContaining({ type: 'object' }),
    },
  });
});
