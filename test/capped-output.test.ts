// CappedOutput: what is kept, what is cut, and what it costs when output arrives a byte at a time.
import { expect, test } from 'bun:test';
import { CappedOutput } from '../src/core/capped-output.ts';

test('keeps up to the limit, in order, across small and large pieces, and flags the cut', () => {
  const out = new CappedOutput(40_000);
  out.push(Buffer.from('ab'));
  out.push(Buffer.alloc(20_000, 'x'));
  out.push(Buffer.from('cd'));
  out.push(Buffer.alloc(30_000, 'y'));
  const text = out.text();
  expect(text.length).toBe(40_000);
  expect(text.startsWith('abx')).toBe(true);
  expect(text.slice(20_002, 20_005)).toBe('cdy');
  expect(out.truncated).toBe(true);
});

test('the caller may reuse a chunk after pushing it', () => {
  const out = new CappedOutput(100);
  const chunk = Buffer.from('first');
  out.push(chunk);
  chunk.write('XXXXX');
  expect(out.text()).toBe('first');
});

test('a million one-byte pieces cost about a megabyte, not an object each', () => {
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const out = new CappedOutput(1024 * 1024);
  const byte = Buffer.from('z');
  for (let i = 0; i < 1024 * 1024; i++) out.push(byte);
  Bun.gc(true);
  const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - before;
  expect(grown).toBeLessThan(8 * 1024 * 1024);
  expect(out.take().length).toBe(1024 * 1024);
  expect(out.empty).toBe(true);
});
