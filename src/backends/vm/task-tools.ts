// The vm tools upstream's agents end tasks and send code with: vm:pyautogui (pyautogui calls,
// parsed, see pyautogui/), vm:done and vm:fail (recorded in the session's task record, task.ts).
import { Type as t } from '@sinclair/typebox';
import type { ToolDefinition } from '../backend.ts';
import { defineTool } from '../backend.ts';
import { runPyautogui } from './pyautogui/run.ts';
import type { VmToolContext } from './tools.ts';

const object = <T extends Parameters<typeof t.Object>[0]>(props: T) =>
  t.Object(props, { additionalProperties: false });

const pyautoguiSource = t.String({ maxLength: 100000 });

export function taskTools(): ToolDefinition<any, any>[] {
  return [
    defineTool({
      name: 'pyautogui',
      description:
        'Run pyautogui calls, e.g. "pyautogui.click(100, 200); pyautogui.write(\'hi\')". They are ' +
        'parsed, never evaluated: pyautogui.click, doubleClick, rightClick, moveTo, dragTo, ' +
        'scroll, vscroll, hscroll, write, typewrite, press, hotkey, keyDown, keyUp, mouseDown, ' +
        'mouseUp and sleep, with literal arguments; anything else answers 1002.',
      params: object({
        command: t.Optional(
          t.Union([pyautoguiSource, t.Array(pyautoguiSource, { maxItems: 100 })], {
            description: 'One command, or a list of them',
          }),
        ),
        commands: t.Optional(t.Array(pyautoguiSource, { maxItems: 100 })),
      }),
      returns: t.Object({
        commands: t.Array(t.String()),
        results: t.Array(t.Object({}, { additionalProperties: true })),
      }),
      run: async ({ command, commands }, ctx: VmToolContext) => {
        const list = [...(command === undefined ? [] : [command].flat()), ...(commands ?? [])];
        return ctx.session.use((d) => runPyautogui(d, list, ctx.timeoutMs, ctx.signal));
      },
    }),
    defineTool({
      name: 'done',
      description:
        'Say the task is finished. Recorded in the session (its state: task.status "done").',
      params: object({}),
      returns: t.Object({ done: t.Literal(true) }),
      run: async (_p, ctx: VmToolContext) =>
        ctx.session.use(async () => {
          ctx.session.task.done();
          return { done: true as const };
        }),
    }),
    defineTool({
      name: 'fail',
      description:
        'Say the task cannot be done (infeasible), with an optional reason. Recorded in the ' +
        'session (its state: task.status "failed", last_action_failed true).',
      params: object({
        reason: t.Optional(
          t.String({ maxLength: 4096, description: 'Why the task cannot be done' }),
        ),
      }),
      returns: t.Object({ fail: t.Literal(true), reason: t.Optional(t.String()) }),
      run: async ({ reason }, ctx: VmToolContext) =>
        ctx.session.use(async () => {
          ctx.session.task.fail(reason);
          return { fail: true as const, ...(reason ? { reason } : {}) };
        }),
    }),
  ];
}
