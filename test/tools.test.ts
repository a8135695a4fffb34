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
  expect(go.parseParams({})).toEqual({ n: 1 });
  expect(() => go.parseParams({ n: 'x' })).toThrow(ParameterError);
  expect(() => go.parseParams({ n: 'x' })).toThrow(/n:/);
  expect(() => go.parseParams({ extra: 1 })).toThrow(ParameterError);
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
