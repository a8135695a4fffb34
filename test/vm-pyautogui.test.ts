// The pyautogui command parser of vm:pyautogui: Python call syntax with literal arguments, never
// evaluated. Pure functions, no Docker (test/vm-parity.test.ts runs each call on a real desktop).
import { describe, expect, test } from 'bun:test';
import { parseCommand } from '../src/backends/vm/pyautogui/parse.ts';
import { planCall } from '../src/backends/vm/pyautogui/calls.ts';
import type { Desktop } from '../src/backends/vm/desktop.ts';
import { ParameterError } from '../src/core/errors.ts';

/** Only the screen size is read while planning. */
const screen = { width: 800, height: 600 } as Desktop;

const refusal = (fn: () => unknown): ParameterError => {
  try {
    fn();
  } catch (err) {
    return err as ParameterError;
  }
  throw new Error('was not refused');
};

describe('vm:pyautogui parser', () => {
  test('calls with positional and keyword literal arguments', () => {
    expect(parseCommand('pyautogui.click(100, 200)')).toEqual([
      { name: 'click', args: [100, 200], kwargs: {} },
    ]);
    expect(
      parseCommand(
        'import pyautogui\npyautogui.moveTo(10.5, -0, duration=0.5, tween=pyautogui.easeInQuad); ' +
          "pyautogui.write('it\\'s\\n\\u00e9\\x41', interval=0.01)  # comment\n" +
          "pyautogui.hotkey('ctrl', \"shift\", 't',)\n" +
          "pyautogui.press(['a', 'b'], presses=2); pyautogui.click((5, 6)); pyautogui.sleep((1))\n" +
          "pyautogui.write(r'C:\\dir', ); pyautogui.dragTo(1, 2, button='left', mouseDownUp=True)",
      ),
    ).toEqual([
      {
        name: 'moveTo',
        args: [10.5, -0],
        kwargs: { duration: 0.5, tween: { tween: 'easeInQuad' } },
      },
      { name: 'write', args: ["it's\néA"], kwargs: { interval: 0.01 } },
      { name: 'hotkey', args: ['ctrl', 'shift', 't'], kwargs: {} },
      { name: 'press', args: [['a', 'b']], kwargs: { presses: 2 } },
      { name: 'click', args: [[5, 6]], kwargs: {} },
      { name: 'sleep', args: [1], kwargs: {} },
      { name: 'write', args: ['C:\\dir'], kwargs: {} },
      { name: 'dragTo', args: [1, 2], kwargs: { button: 'left', mouseDownUp: true } },
    ]);
  });

  test('hostile and unsupported input is a 1002 naming what is not accepted', () => {
    const refused: [string, string][] = [
      ["__import__('os').system('x')", 'found "__import__"'],
      ["os.system('rm -rf /')", 'found "os"'],
      ["exec('import os')", 'found "exec"'],
      ["eval('1')", 'found "eval"'],
      ["pyautogui.click(__import__('os'))", 'nested calls'],
      ['pyautogui.write(str(1))', 'nested calls'],
      ['pyautogui.click(pyautogui.position())', 'nested calls'],
      ["pyautogui.os.system('x')", 'attribute access'],
      ['pyautogui.__class__.__init__()', 'attribute access'],
      ['pyautogui.click(1, 2).x', 'after a call'],
      ['pyautogui.click(1, 2) + 1', 'after a call'],
      ['pyautogui.click(1, 2); import os', 'only "import pyautogui"'],
      ['pyautogui.write(f\'{open("/etc/passwd").read()}\')', 'f-strings'],
      ["pyautogui.write(b'x')", 'bytes'],
      ['pyautogui.click(*[1, 2])', '"*"'],
      ['pyautogui.click(**{})', '"*"'],
      ['pyautogui.click(x)', 'found the name "x"'],
      ['pyautogui.click(1 if True else 2)', 'found "if"'],
      ['pyautogui.click(lambda: 1)', '":"'],
      ['pyautogui.click(x=1, x=2)', 'given twice'],
      ['pyautogui.click(x=1, 2)', 'positional argument follows'],
      ["pyautogui.write('abc)", 'not closed'],
      ['pyautogui.click', 'must be called'],
      ['x = 1', 'found "x"'],
    ];
    for (const [source, what] of refused) {
      const err = refusal(() => parseCommand(source));
      expect({ source, code: err.code }).toEqual({ source, code: 1002 });
      expect({ source, message: err.message }).toEqual({
        source,
        message: expect.stringContaining(what),
      });
    }
  });

  test('functions outside the subset, unknown arguments and bad values are refused at planning', () => {
    const refused: [string, string][] = [
      ['pyautogui.screenshot()', 'pyautogui.screenshot is not supported'],
      ["pyautogui.locateOnScreen('x.png')", 'pyautogui.locateOnScreen is not supported'],
      ['pyautogui.__import__()', 'not supported'],
      ['pyautogui.click(1, 2, foo=3)', 'no argument named foo'],
      ['pyautogui.click(1, 2, 1, 0, "left", 0, 9)', 'at most 6 positional'],
      ['pyautogui.click(800, 10)', 'x=800 is outside the screen'],
      ['pyautogui.moveTo(1, -5)', 'y=-5 is outside the screen'],
      ["pyautogui.click(1, 2, button='side')", 'button'],
      ["pyautogui.click('a', 2)", 'x must be a number'],
      ['pyautogui.click(1, 2, clicks=1.5)', 'whole number'],
      ["pyautogui.press('nosuchkey')", 'Unknown key name'],
      ["pyautogui.hotkey('ctrl', 5)", 'key names'],
      ['pyautogui.scroll()', 'clicks is required'],
      ['pyautogui.sleep(-1)', 'seconds must be'],
      ["pyautogui.write('bell\\x07')", 'control character'],
    ];
    for (const [source, what] of refused) {
      const err = refusal(() => parseCommand(source).map((c) => planCall(c, screen)));
      expect({ source, code: err.code }).toEqual({ source, code: 1002 });
      expect({ source, message: err.message }).toEqual({
        source,
        message: expect.stringContaining(what),
      });
    }
  });
});
