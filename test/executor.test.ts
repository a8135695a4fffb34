// The executor's deadlines: a call is stopped early enough that its answer, a 2002 included, is
// sent within its timeout (upstream's client times its HTTP request out after the same T).
import { expect, test } from 'bun:test';
import { ANSWER_RESERVE_MS, callDeadlines } from '../src/core/executor.ts';

test('the backend stops 5% early (100 ms to 1 s, at most half); abandoning comes before T', () => {
  const at = (timeoutMs: number, graceMs = 2000) => {
    const d = callDeadlines(1_000_000, timeoutMs, graceMs);
    return [d.stopBy - 1_000_000, d.abandonAt - 1_000_000, d.answerBy - 1_000_000];
  };
  expect(at(1000)).toEqual([900, 1000 - ANSWER_RESERVE_MS, 1000]);
  expect(at(10_000)).toEqual([9500, 10_000 - ANSWER_RESERVE_MS, 10_000]);
  expect(at(60_000)).toEqual([59_000, 60_000 - ANSWER_RESERVE_MS, 60_000]);
  expect(at(120)).toEqual([60, 120 - ANSWER_RESERVE_MS, 120]);
  // A grace shorter than the margin abandons sooner; a grace of 0 abandons at the stop deadline.
  expect(at(10_000, 100)).toEqual([9500, 9600, 10_000]);
  expect(at(10_000, 0)).toEqual([9500, 9500, 10_000]);
  // Never before the stop deadline, even when the timeout is tiny.
  const tiny = callDeadlines(0, 10, 2000);
  expect(tiny.abandonAt).toBeGreaterThanOrEqual(tiny.stopBy);
  expect(tiny.abandonAt).toBeLessThanOrEqual(tiny.answerBy);
});
