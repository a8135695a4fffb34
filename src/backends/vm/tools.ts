// The vm tools of SPEC §6 (names match the upstream server's VM tools). Each turns its params into
// a batch of low-level input events for the session's desktop, after checking coordinates against
// the screen and key names against the key table (1002 for anything out of range or unknown).
import { Type as t } from '@sinclair/typebox';
import { ExecutionTimeoutError, ParameterError } from '../../core/errors.ts';
import type { ToolDefinition } from '../backend.ts';
import { defineTool } from '../backend.ts';
import { BUTTONS, type ButtonName, type Desktop, type InputEvent } from './desktop.ts';
import { keysymForChar, resolveCombo, resolveKey } from './keys.ts';
import type { TaskRecord } from './task.ts';
import { taskTools } from './task-tools.ts';

/** What a tool gets as its session handle: the live desktop, checked alive by `use`. */
export interface VmToolContext {
  session: VmHandleLike;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface VmHandleLike {
  /** Resolves the live desktop, or throws 1003 (and cleans up) when it died. */
  use<T>(fn: (desktop: Desktop) => Promise<T>): Promise<T>;
  /** The task's record (last action, history, done / failed), persisted as session state. */
  readonly task: TaskRecord;
}

const coord = (what: string) => t.Integer({ minimum: -100000, maximum: 100000, description: what });
const button = t.Union([t.Literal('left'), t.Literal('right'), t.Literal('middle')], {
  default: 'left',
  description: 'Mouse button',
});
const keyName = t.String({
  minLength: 1,
  maxLength: 64,
  description:
    'Key name: an X keysym (Return, F5, a), a common spelling (enter, ctrl, cmd), or one character',
});
const point = t.Object({ x: t.Integer(), y: t.Integer() });

function checkPoint(desktop: Desktop, x: number, y: number, names = ['x', 'y']): void {
  if (x < 0 || x >= desktop.width || y < 0 || y >= desktop.height) {
    throw new ParameterError(
      `(${names[0]}=${x}, ${names[1]}=${y}) is outside the screen: ${names[0]} must be ` +
        `0..${desktop.width - 1} and ${names[1]} 0..${desktop.height - 1}.`,
    );
  }
}

/** Both coordinates or neither: the current pointer position is used when both are absent. */
async function optionalPoint(
  desktop: Desktop,
  x: number | undefined,
  y: number | undefined,
): Promise<{ x: number; y: number; given: boolean }> {
  if ((x === undefined) !== (y === undefined)) {
    throw new ParameterError('Give both x and y, or neither to use the current pointer position.');
  }
  if (x === undefined || y === undefined) return { ...(await desktop.cursor()), given: false };
  checkPoint(desktop, x, y);
  return { x, y, given: true };
}

const press = (b: number): InputEvent[] => [
  { kind: 'button', button: b, down: true },
  { kind: 'button', button: b, down: false },
];

const tap = (keysym: number): InputEvent[] => [
  { kind: 'key', keysym, down: true },
  { kind: 'key', keysym, down: false },
];

/** Presses keys in order and releases them in reverse (a hotkey). */
function chord(keysyms: readonly number[]): InputEvent[] {
  return [
    ...keysyms.map((keysym): InputEvent => ({ kind: 'key', keysym, down: true })),
    ...[...keysyms].reverse().map((keysym): InputEvent => ({ kind: 'key', keysym, down: false })),
  ];
}

function textEvents(text: string, intervalMs: number): InputEvent[] {
  const events: InputEvent[] = [];
  let first = true;
  for (const ch of text) {
    const keysym = keysymForChar(ch);
    if (keysym === undefined) {
      const cp = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      throw new ParameterError(
        `text holds the control character U+${cp}, which cannot be typed; use vm:key for keys.`,
      );
    }
    if (!first && intervalMs > 0) events.push({ kind: 'pause', ms: intervalMs });
    first = false;
    events.push(...tap(keysym));
  }
  return events;
}

/** Steps of a drag: programs see motion with the button down, not a jump. */
const DRAG_STEPS = 8;
const DRAG_STEP_MS = 10;

function dragEvents(x0: number, y0: number, x1: number, y1: number, b: number): InputEvent[] {
  const events: InputEvent[] = [
    { kind: 'move', x: x0, y: y0 },
    { kind: 'button', button: b, down: true },
  ];
  for (let i = 1; i <= DRAG_STEPS; i++) {
    events.push({ kind: 'pause', ms: DRAG_STEP_MS });
    events.push({
      kind: 'move',
      x: Math.round(x0 + ((x1 - x0) * i) / DRAG_STEPS),
      y: Math.round(y0 + ((y1 - y0) * i) / DRAG_STEPS),
    });
  }
  events.push({ kind: 'button', button: b, down: false });
  return events;
}

const object = <T extends Parameters<typeof t.Object>[0]>(props: T) =>
  t.Object(props, { additionalProperties: false });

/** vm:key_down / vm:key_up: one key event. */
const keyTransition = (name: string, down: boolean, description: string) =>
  defineTool({
    name,
    description,
    params: object({ key: keyName }),
    run: async ({ key }, ctx: VmToolContext) => {
      const keysym = resolveKey(key);
      return ctx.session.use(async (d) => {
        await d.input([{ kind: 'key', keysym, down }], ctx.signal);
        return { key };
      });
    },
  });

/** vm:mouse_down / vm:mouse_up: one button event where the pointer is. */
const buttonTransition = (name: string, down: boolean, description: string) =>
  defineTool({
    name,
    description,
    params: object({ button }),
    run: async ({ button: b }, ctx: VmToolContext) =>
      ctx.session.use(async (d) => {
        await d.input([{ kind: 'button', button: BUTTONS[b as ButtonName], down }], ctx.signal);
        return { button: b };
      }),
  });

export function vmTools(): ToolDefinition<any, any>[] {
  return [
    defineTool({
      name: 'screenshot',
      description:
        'Capture the whole screen. Returns the image as base64 with its format and size.',
      params: object({
        format: t.Union([t.Literal('png'), t.Literal('jpeg')], { default: 'png' }),
        quality: t.Integer({
          minimum: 1,
          maximum: 100,
          default: 80,
          description: 'JPEG quality (ignored for PNG)',
        }),
      }),
      returns: t.Object({
        image: t.String({ description: 'base64' }),
        format: t.String(),
        width: t.Integer(),
        height: t.Integer(),
      }),
      run: async ({ format, quality }, ctx: VmToolContext) =>
        ctx.session.use((d) => d.screenshot(format, quality)),
    }),
    defineTool({
      name: 'click',
      description: 'Move the pointer to (x, y) and click a mouse button one or more times.',
      params: object({
        x: coord('Screen x in pixels'),
        y: coord('Screen y in pixels'),
        button,
        clicks: t.Integer({ minimum: 1, maximum: 3, default: 1 }),
      }),
      run: async ({ x, y, button: b, clicks }, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          checkPoint(d, x, y);
          const events: InputEvent[] = [{ kind: 'move', x, y }];
          for (let i = 0; i < clicks; i++) events.push(...press(BUTTONS[b as ButtonName]));
          await d.input(events, ctx.signal);
          return { x, y, button: b, clicks };
        }),
    }),
    defineTool({
      name: 'double_click',
      description: 'Double-click the left button at (x, y).',
      params: object({ x: coord('Screen x'), y: coord('Screen y') }),
      run: async ({ x, y }, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          checkPoint(d, x, y);
          await d.input([{ kind: 'move', x, y }, ...press(1), ...press(1)], ctx.signal);
          return { x, y };
        }),
    }),
    defineTool({
      name: 'right_click',
      description: 'Right-click at (x, y), or where the pointer is when both are omitted.',
      params: object({ x: t.Optional(coord('Screen x')), y: t.Optional(coord('Screen y')) }),
      run: async ({ x, y }, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          const p = await optionalPoint(d, x, y);
          await d.input([{ kind: 'move', x: p.x, y: p.y }, ...press(3)], ctx.signal);
          return { x: p.x, y: p.y };
        }),
    }),
    defineTool({
      name: 'move',
      description: 'Move the pointer to (x, y).',
      params: object({ x: coord('Screen x'), y: coord('Screen y') }),
      returns: point,
      run: async ({ x, y }, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          checkPoint(d, x, y);
          await d.input([{ kind: 'move', x, y }], ctx.signal);
          return { x, y };
        }),
    }),
    defineTool({
      name: 'drag',
      description: 'Press the left button at the start point, move to the end point, release.',
      params: object({
        start_x: coord('Start x'),
        start_y: coord('Start y'),
        end_x: coord('End x'),
        end_y: coord('End y'),
        button,
      }),
      run: async (p, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          checkPoint(d, p.start_x, p.start_y, ['start_x', 'start_y']);
          checkPoint(d, p.end_x, p.end_y, ['end_x', 'end_y']);
          const b = BUTTONS[p.button as ButtonName];
          await d.input(dragEvents(p.start_x, p.start_y, p.end_x, p.end_y, b), ctx.signal);
          return { start_x: p.start_x, start_y: p.start_y, end_x: p.end_x, end_y: p.end_y };
        }),
    }),
    defineTool({
      name: 'scroll',
      description:
        'Turn the mouse wheel by `clicks` notches at (x, y), or where the pointer is: positive ' +
        'scrolls up, negative down (as pyautogui.scroll does).',
      params: object({
        x: t.Optional(coord('Screen x')),
        y: t.Optional(coord('Screen y')),
        clicks: t.Integer({
          minimum: -100,
          maximum: 100,
          description: 'Notches; positive = up, negative = down',
        }),
      }),
      run: async ({ x, y, clicks }, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          const p = await optionalPoint(d, x, y);
          const events: InputEvent[] = p.given ? [{ kind: 'move', x: p.x, y: p.y }] : [];
          // X buttons 4 and 5 are wheel up and down; pyautogui's positive clicks are up.
          for (let i = 0; i < Math.abs(clicks); i++) events.push(...press(clicks > 0 ? 4 : 5));
          await d.input(events, ctx.signal);
          return { x: p.x, y: p.y, clicks };
        }),
    }),
    defineTool({
      name: 'type',
      description:
        'Type text as key presses into the focused window (any Unicode; newlines press Return). ' +
        '`interval` waits that many seconds between characters.',
      params: object({
        text: t.String({ maxLength: 100000 }),
        interval: t.Number({ minimum: 0, maximum: 5, default: 0, description: 'Seconds' }),
      }),
      run: async ({ text, interval }, ctx: VmToolContext) =>
        ctx.session.use(async (d) => {
          const events = textEvents(text, Math.round(interval * 1000));
          await d.input(events, ctx.signal);
          if (ctx.signal.aborted) {
            throw new ExecutionTimeoutError('Typing was stopped at the call timeout.');
          }
          return { typed: [...text].length };
        }),
    }),
    defineTool({
      name: 'key',
      description:
        'Press and release a key (`Return`, `esc`, `F5`), or a combo written with + (`ctrl+c`).',
      params: object({ key: keyName }),
      run: async ({ key }, ctx: VmToolContext) => {
        const keysyms = resolveCombo(key);
        return ctx.session.use(async (d) => {
          await d.input(keysyms.length === 1 ? tap(keysyms[0]!) : chord(keysyms), ctx.signal);
          return { key };
        });
      },
    }),
    defineTool({
      name: 'hotkey',
      description:
        'Press keys together in order and release them in reverse (["ctrl","shift","t"]).',
      params: object({ keys: t.Array(keyName, { minItems: 1, maxItems: 8 }) }),
      run: async ({ keys }, ctx: VmToolContext) => {
        const keysyms = keys.map(resolveKey);
        return ctx.session.use(async (d) => {
          await d.input(chord(keysyms), ctx.signal);
          return { keys };
        });
      },
    }),
    keyTransition('key_down', true, 'Hold a key down (release it with vm:key_up).'),
    keyTransition('key_up', false, 'Release a key held with vm:key_down.'),
    buttonTransition('mouse_down', true, 'Hold a mouse button down where the pointer is.'),
    buttonTransition('mouse_up', false, 'Release a mouse button.'),
    defineTool({
      name: 'cursor_position',
      description: 'Where the pointer is.',
      params: object({}),
      returns: point,
      run: async (_p, ctx: VmToolContext) => ctx.session.use((d) => d.cursor()),
    }),
    defineTool({
      name: 'wait',
      description:
        'Wait for the desktop to settle (an app to open, a page to load); 1 s by default.',
      params: object({
        seconds: t.Number({ minimum: 0, maximum: 3600, default: 1, description: 'Seconds' }),
      }),
      run: async ({ seconds }, ctx: VmToolContext) => {
        if (seconds * 1000 > ctx.timeoutMs) {
          throw new ParameterError(
            `seconds (${seconds}) is longer than this call's timeout (${ctx.timeoutMs / 1000}s); ` +
              'pass a larger timeout.',
          );
        }
        return ctx.session.use(async () => {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, seconds * 1000);
            ctx.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              resolve();
            });
          });
          return { waited: seconds };
        });
      },
    }),
    defineTool({
      name: 'exec',
      description:
        'Run a shell command (bash) inside the desktop, as its user, for setup: install files, ' +
        'start programs (end them with & and redirect their output).',
      params: object({
        command: t.String({ minLength: 1, maxLength: 1024 * 1024 }),
        timeout: t.Optional(
          t.Number({ exclusiveMinimum: 0, maximum: 86400, description: 'Seconds' }),
        ),
      }),
      returns: t.Object({
        stdout: t.String(),
        stderr: t.String(),
        exit_code: t.Union([t.Integer(), t.Null()]),
        timed_out: t.Boolean(),
        truncated: t.Boolean(),
        duration_ms: t.Number(),
      }),
      run: async ({ command, timeout }, ctx: VmToolContext) => {
        if (command.includes('\0')) throw new ParameterError('command must not contain NUL bytes');
        const limit = Math.min(ctx.timeoutMs, timeout === undefined ? Infinity : timeout * 1000);
        return ctx.session.use(async (d) => {
          const result = await d.exec(command, limit);
          if (result.timed_out) {
            throw new ExecutionTimeoutError(
              `Command timed out after ${limit / 1000}s and was killed.`,
              result,
            );
          }
          return result;
        });
      },
    }),
    ...taskTools(),
  ];
}
