// Accessibility-tree observations on a real desktop (issue "Upstream parity", item 4g): a GTK
// program's widgets appear in the tree the results of vm actions carry, in the XML shape upstream's
// desktop server answers, with screen coordinates a click can use. Skipped without Docker.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { buildApp, type TestApp } from './helpers.ts';
import { dockerReachable, closeDesktopApp, SKIP_MESSAGE } from './fixtures/vm/docker.ts';

const reachable = await dockerReachable();
if (!reachable) console.warn(SKIP_MESSAGE);
const withDocker = reachable ? describe : describe.skip;

const SLOW = 60_000;
const ST = 'https://accessibility.ubuntu.example.org/ns/state';

/** A GTK 3 window with a button (which records its click) and a text entry. */
const APP = `
import gi
gi.require_version('Gtk', '3.0')
from gi.repository import Gtk
w = Gtk.Window(title='af-a11y')
box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
b = Gtk.Button(label='AgentFlow Button')
def clicked(_):
    open('/tmp/clicked', 'w').write('yes')
    b.set_label('Clicked')
b.connect('clicked', clicked)
e = Gtk.Entry()
e.set_text('hello tree')
box.add(b)
box.add(e)
w.add(box)
w.set_default_size(300, 150)
w.connect('destroy', Gtk.main_quit)
w.show_all()
Gtk.main()
`;

withDocker('accessibility tree observations', () => {
  let app: TestApp;

  const exec = async (worker: string, action: string, params: unknown = {}) =>
    (await app.post('/execute', { worker_id: worker, action, params, timeout: 30 })).body;
  const create = (worker: string, config: Record<string, unknown>) =>
    app.post('/session/create', { worker_id: worker, resource_type: 'vm', config });

  beforeAll(async () => {
    app = await buildApp({});
  }, SLOW);

  afterAll(() => closeDesktopApp(app), SLOW);

  test(
    "a GTK program's widgets are in the tree every action answers, where a click finds them",
    async () => {
      expect(
        (await create('a11y', { observation: 'accessibility_tree', screen_size: [1024, 768] })).body
          .code,
      ).toBe(0);
      const put = await exec('a11y', 'vm:exec', {
        command: `cat > /tmp/app.py <<'EOF'\n${APP}\nEOF\nnohup python3 /tmp/app.py >/tmp/app.log 2>&1 &`,
      });
      expect(put.code).toBe(0);

      // Polled: the program takes a moment to start and register with AT-SPI.
      let tree = '';
      const deadline = Date.now() + 30_000;
      while (!tree.includes('AgentFlow Button') && Date.now() < deadline) {
        const r = await exec('a11y', 'vm:wait', { seconds: 0 });
        expect(r.code).toBe(0);
        tree = r.data.accessibility_tree ?? '';
        if (!tree.includes('AgentFlow Button')) await Bun.sleep(100);
      }
      expect(tree).toStartWith('<desktop-frame');
      expect(tree).toContain(`xmlns:st="${ST}"`);
      const button = /<push-button\b[^>]*\bname="AgentFlow Button"[^>]*>/.exec(tree)?.[0];
      expect(button).toBeDefined();
      expect(button).toContain('st:showing="true"');
      expect(button).toContain('act:click_desc=');
      const at = /cp:screencoord="\((\d+), (\d+)\)"/.exec(button!)!;
      const size = /cp:size="\((\d+), (\d+)\)"/.exec(button!)!;
      expect(Number(size[1])).toBeGreaterThan(0);
      expect(tree).toMatch(/<text\b[^>]*>hello tree<\/text>/);
      expect(tree).toMatch(/<frame\b[^>]*name="af-a11y"/);

      // The coordinates are the screen's: a click there presses the button.
      const x = Number(at[1]) + Math.floor(Number(size[1]) / 2);
      const y = Number(at[2]) + Math.floor(Number(size[2]) / 2);
      const clicked = await exec('a11y', 'vm:click', { x, y });
      expect(clicked.code).toBe(0);
      expect(typeof clicked.data.accessibility_tree).toBe('string');
      let label = '';
      for (let i = 0; i < 50 && !label.includes('name="Clicked"'); i++) {
        label = (await exec('a11y', 'vm:move', { x: 5, y: 5 })).data.accessibility_tree ?? '';
        if (!label.includes('name="Clicked"')) await Bun.sleep(100);
      }
      expect(label).toMatch(/<push-button\b[^>]*name="Clicked"/);
      expect((await exec('a11y', 'vm:exec', { command: 'cat /tmp/clicked' })).data.stdout).toBe(
        'yes',
      );

      // vm:screenshot answers the image and the tree; vm:done and vm:exec no tree, as upstream.
      const shot = await exec('a11y', 'vm:screenshot');
      expect(shot.data).toMatchObject({
        format: 'png',
        accessibility_tree: expect.stringContaining('Clicked'),
      });
      expect(shot.data.image.length).toBeGreaterThan(100);
      expect(
        (await exec('a11y', 'vm:pyautogui', { command: 'pyautogui.moveTo(6, 6)' })).data
          .accessibility_tree,
      ).toContain('Clicked');
      expect((await exec('a11y', 'vm:done')).data).toEqual({ done: true });
      expect(
        'accessibility_tree' in (await exec('a11y', 'vm:exec', { command: 'true' })).data,
      ).toBe(false);

      // A program that stops answering (SIGSTOP) cannot stall the call: the tree is null, as
      // upstream answers when its tree cannot be had, within the time limit.
      // ([a]: the pattern must not match the shell running pkill.)
      const stop = await exec('a11y', 'vm:exec', { command: 'pkill -STOP -f /tmp/[a]pp.py' });
      expect(stop).toMatchObject({ code: 0, data: { exit_code: 0 } });
      const started = performance.now();
      const stuck = await exec('a11y', 'vm:move', { x: 9, y: 9 });
      expect(stuck).toMatchObject({ code: 0, data: { x: 9, y: 9, accessibility_tree: null } });
      expect(performance.now() - started).toBeLessThan(8000);
      await exec('a11y', 'vm:exec', { command: 'pkill -CONT -f /tmp/[a]pp.py' });
    },
    SLOW,
  );

  test(
    'without observation (or with "screenshot") results carry no tree; a bad value is 1002',
    async () => {
      for (const [worker, config] of [
        ['a11y-none', {}],
        ['a11y-shot', { observation: 'screenshot' }],
      ] as const) {
        expect((await create(worker, config)).body.code).toBe(0);
        const r = await exec(worker, 'vm:move', { x: 3, y: 3 });
        expect(r).toMatchObject({ code: 0, data: { x: 3, y: 3 } });
        expect('accessibility_tree' in r.data).toBe(false);
      }
      expect((await create('a11y-bad', { observation: 'som' })).body.code).toBe(1002);
    },
    SLOW,
  );
});
