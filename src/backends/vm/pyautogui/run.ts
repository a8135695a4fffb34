// vm:pyautogui: parses every command first (nothing runs when one is refused), then runs the calls
// in order on the desktop. Answers upstream's shape: the commands, and one result per command.
import { ExecutionTimeoutError, ParameterError } from '../../../core/errors.ts';
import type { Desktop } from '../desktop.ts';
import { pausedSeconds, planCall, type Plan } from './calls.ts';
import { parseCommand } from './parse.ts';

export interface PyautoguiResult {
  commands: string[];
  /** Per command, what upstream's desktop server answers for a command that ran. */
  results: { status: 'success'; output: string; error: string; returncode: number }[];
}

export async function runPyautogui(
  desktop: Desktop,
  commands: string[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<PyautoguiResult> {
  const list = commands.filter((c) => c.trim() !== '');
  if (list.length === 0) throw new ParameterError('command/commands cannot be empty');
  const plans: Plan[][] = list.map((c, i) => {
    try {
      return parseCommand(c).map((call) => planCall(call, desktop));
    } catch (err) {
      if (err instanceof ParameterError && list.length > 1) {
        throw new ParameterError(`commands[${i}]: ${err.message}`);
      }
      throw err;
    }
  });

  // What the calls wait in all depends on their arguments only: a dry run with any pointer says.
  let waits = 0;
  for (const plan of plans.flat()) waits += pausedSeconds(await plan(async () => ({ x: 0, y: 0 })));
  if (waits * 1000 > timeoutMs) {
    throw new ParameterError(
      `The pyautogui calls wait ${waits}s in all, longer than this call's timeout ` +
        `(${timeoutMs / 1000}s); pass a larger timeout.`,
    );
  }

  const deadline = Date.now() + timeoutMs;
  const cursor = () => desktop.cursor();
  const results: PyautoguiResult['results'] = [];
  for (const calls of plans) {
    for (const plan of calls) {
      const events = await plan(cursor);
      const left = deadline - Date.now();
      if (pausedSeconds(events) * 1000 > left) {
        throw new ExecutionTimeoutError(
          `The pyautogui calls wait longer than this call's timeout allows (${Math.round(left / 1000)}s ` +
            'left); pass a larger timeout.',
        );
      }
      await desktop.input(events, signal);
      if (signal.aborted)
        throw new ExecutionTimeoutError('The pyautogui calls were stopped at the call timeout.');
    }
    results.push({ status: 'success', output: '', error: '', returncode: 0 });
  }
  return { commands: list, results };
}
