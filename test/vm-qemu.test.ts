// The qemu driver against a real QEMU booting the tiny test guest (scripts/build-qemu-guest.sh)
// under TCG: screenshots, a key typed through QMP changing the screen, the absolute pointer, the
// per-session overlay, destroy; a restarted server adopting only its own VMs (never the process
// a stale pid file names); and 2004 when the QEMU binary or the base image is missing.
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/core/store.ts';
import { buildApp, isAlive, tempDir } from './helpers.ts';
import { decodePng } from './fixtures/vm/docker.ts';

const GUEST = process.env.AGENTFLOW_QEMU_GUEST_DIR ?? '/var/lib/agentflow/qemu-guest';
const guest = {
  kernel: join(GUEST, 'vmlinuz'),
  initrd: join(GUEST, 'initrd.img'),
  disk_image: join(GUEST, 'disk.qcow2'),
  append: 'console=tty1 quiet',
};
const haveQemu = Bun.which('qemu-system-x86_64') !== null;
const haveGuest = Object.values(guest).every((p) => !p.startsWith('/') || existsSync(p));
if (!haveQemu || !haveGuest) {
  console.warn(
    `qemu tests skipped: ${!haveQemu ? 'qemu-system-x86_64 is not installed' : `no test guest in ${GUEST}`} ` +
      '(bash scripts/ci-setup-vm.sh installs QEMU and builds the guest)',
  );
}
const withQemu = haveQemu && haveGuest ? test : test.skip;

/** Pids of the QEMU process of a session (its -name carries the session id). */
function qemuProcesses(sessionId: string): number[] {
  const out = Bun.spawnSync(['pgrep', '-f', '--', `-name agentflow-${sessionId} `]);
  return out.stdout.toString().split('\n').filter(Boolean).map(Number);
}

withQemu(
  'a qemu session boots the guest: screenshot, typing changes the screen, pointer, destroy',
  async () => {
    // accel auto: KVM is probed first (it hangs on this machine) and TCG is used.
    const app = await buildApp({ backends: { vm: { qemu: { ...guest, accel: 'auto' } } } });
    try {
      const created = await app.post('/session/create', {
        worker_id: 'q1',
        resource_type: 'vm',
        config: { driver: 'qemu', memory_mb: 256 },
      });
      expect(created.body.code).toBe(0);
      const sessionId = created.body.data.session_id;
      const exec = async (action: string, params: unknown = {}) =>
        (await app.post('/execute', { worker_id: 'q1', action, params, timeout: 30 })).body;

      const first = await exec('vm:screenshot');
      expect(first.code).toBe(0);
      const png = decodePng(Buffer.from(first.data.image, 'base64'));
      expect([png.width, png.height]).toEqual([first.data.width, first.data.height]);
      expect(png.width).toBeGreaterThan(0);

      expect((await exec('vm:type', { text: 'echo agentflow' })).code).toBe(0);
      expect((await exec('vm:key', { key: 'Return' })).code).toBe(0);
      let after = first;
      for (let i = 0; i < 50 && after.data.image === first.data.image; i++) {
        await Bun.sleep(200);
        after = await exec('vm:screenshot');
      }
      expect(after.data.image).not.toBe(first.data.image);
      const jpeg = await exec('vm:screenshot', { format: 'jpeg' });
      expect(jpeg.data.format).toBe('jpeg');

      expect((await exec('vm:move', { x: 100, y: 50 })).code).toBe(0);
      expect((await exec('vm:cursor_position')).data).toEqual({ x: 100, y: 50 });
      expect((await exec('vm:click', { x: png.width, y: 1 })).code).toBe(1002);
      expect((await exec('vm:type', { text: 'é' })).code).toBe(1002);
      expect((await exec('vm:exec', { command: 'ls' })).code).toBe(1002);

      // The session runs on its own overlay of the base disk.
      const root = join(app.dataDir, 'vm-qemu');
      const [folder] = readdirSync(root);
      expect(existsSync(join(root, folder!, 'overlay.qcow2'))).toBe(true);
      expect(qemuProcesses(sessionId)).toHaveLength(1);

      expect((await app.post('/session/destroy', { worker_id: 'q1' })).body.code).toBe(0);
      expect(readdirSync(root)).toEqual([]);
      for (let i = 0; i < 20 && qemuProcesses(sessionId).length > 0; i++) await Bun.sleep(50);
      expect(qemuProcesses(sessionId)).toEqual([]);
    } finally {
      await app.close();
    }
  },
  180_000,
);

describe('recover after a reboot', () => {
  test('a stale pid file naming an unrelated process: neither killed nor adopted, the session lost', async () => {
    const dataDir = tempDir('af-qemu-stale-');
    // What a reboot leaves: a stored qemu session, its folder and pid file, and that pid now
    // taken by something else; plus a leftover folder (no session file) naming the same pid.
    const unrelated = Bun.spawn(['sleep', '1000'], { stdin: 'ignore', stdout: 'ignore' });
    try {
      const now = Date.now();
      const store = Store.open(dataDir);
      store.insertSession({
        session_id: 'vm_stale_001',
        worker_id: 'stale',
        resource_type: 'vm',
        session_name: 'vm_stale_001',
        status: 'active',
        config: { driver: 'qemu' },
        state: {},
        created_at: now,
        last_used_at: now,
        expires_at: now + 300_000,
      });
      store.close();
      const root = join(dataDir, 'vm-qemu');
      for (const [name, session] of [
        ['0123456789ab', 'vm_stale_001'],
        ['leftover0000', undefined],
      ] as const) {
        mkdirSync(join(root, name), { recursive: true });
        writeFileSync(join(root, name, 'qemu.pid'), `${unrelated.pid}\n`);
        if (session) writeFileSync(join(root, name, 'session'), session);
      }

      const app = await buildApp({
        data_dir: dataDir,
        backends: {
          vm: { enabled: true, docker_socket: '/nonexistent/docker.sock', qemu: guest },
        },
      });
      try {
        const listed = (await app.post('/session/list', { worker_id: 'stale' })).body.data;
        expect(listed.sessions.map((s: { status: string }) => s.status)).toEqual(['lost']);
        expect(isAlive(unrelated.pid)).toBe(true);
        expect(readdirSync(root)).toEqual([]);

        // Its next call finds the VM gone (1003), and cleaning up kills nothing either.
        const r = await app.post('/execute', { worker_id: 'stale', action: 'vm:cursor_position' });
        expect(r.body.code).toBe(1003);
        expect(r.body.message).toContain('vm_stale_001');
        expect(isAlive(unrelated.pid)).toBe(true);
        expect(
          (await app.post('/session/list', { worker_id: 'stale' })).body.data.sessions,
        ).toEqual([]);
      } finally {
        await app.close();
      }
    } finally {
      unrelated.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  withQemu(
    "a VM that kept running is adopted again after a restart (the check knows QEMU's own argv)",
    async () => {
      const dataDir = tempDir('af-qemu-keep-');
      const config = { data_dir: dataDir, backends: { vm: { qemu: { ...guest, accel: 'tcg' } } } };
      let sessionId = '';
      try {
        const first = await buildApp(config);
        try {
          const created = await first.post('/session/create', {
            worker_id: 'kept',
            resource_type: 'vm',
            config: { driver: 'qemu', memory_mb: 256 },
          });
          expect(created.body.code).toBe(0);
          sessionId = created.body.data.session_id;
        } finally {
          await first.services.shutdown({ force: false, cleanupSessions: false });
        }
        const [pid] = qemuProcesses(sessionId);
        expect(pid).toBeNumber();

        const second = await buildApp(config);
        try {
          const listed = (await second.post('/session/list', { worker_id: 'kept' })).body.data;
          expect(listed.sessions.map((s: { status: string }) => s.status)).toEqual(['active']);
          const shot = await second.post('/execute', {
            worker_id: 'kept',
            action: 'vm:screenshot',
            timeout: 30,
          });
          expect(shot.body.code).toBe(0);
          expect(qemuProcesses(sessionId)).toEqual([pid!]);
        } finally {
          await second.close();
        }
      } finally {
        for (const pid of sessionId ? qemuProcesses(sessionId) : []) process.kill(pid, 'SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});

describe('qemu driver without its pieces', () => {
  /** A qemu session create with this driver config answers 2004 naming `missing`. */
  const answers2004Naming = async (qemu: Record<string, unknown>, missing: string) => {
    const app = await buildApp({ backends: { vm: { enabled: true, qemu } } });
    try {
      const r = await app.post('/session/create', {
        worker_id: 'q',
        resource_type: 'vm',
        config: { driver: 'qemu' },
      });
      expect(r.body.code).toBe(2004);
      expect(r.body.message).toContain(missing);
    } finally {
      await app.close();
    }
  };

  test('a missing QEMU binary answers 2004', () =>
    answers2004Naming({ ...guest, binary: '/nonexistent/qemu' }, '/nonexistent/qemu'));

  withQemu('a missing base image answers 2004', () =>
    answers2004Naming(
      { binary: 'qemu-system-x86_64', disk_image: '/nonexistent/base.qcow2' },
      '/nonexistent/base.qcow2',
    ),
  );
});
