// Faults of the data directory at run time (real filesystems): a full disk and a read-only one
// give clear 5000 errors, lose no stored session, and the store reopens cleanly afterwards.
import { Database } from 'bun:sqlite';
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STORE_FILE } from '../src/core/store.ts';
import { ROOT, buildApp, processesLeft, tempDir, type TestApp } from './helpers.ts';

let mountPoint: string;

const sh = (cmd: string) => {
  const r = Bun.spawnSync(['bash', '-c', cmd]);
  if (r.exitCode !== 0) throw new Error(`${cmd}: ${r.stderr.toString()}`);
};

beforeEach(() => {
  mountPoint = tempDir('af-fault-');
  sh(`mount -t tmpfs -o size=4m tmpfs ${mountPoint}`);
});
afterEach(() => {
  Bun.spawnSync(['umount', '-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

async function appOn(dir: string): Promise<TestApp> {
  mkdirSync(dir, { recursive: true });
  return buildApp({ data_dir: dir });
}

/** The workers of the sessions a fresh server on `dir` lists (then it is closed again). */
async function workersAfterReopen(dir: string): Promise<string[]> {
  const t = await appOn(dir);
  try {
    const sessions = (await t.post('/session/list', {})).body.data.sessions;
    return sessions.map((s: { worker_id: string }) => s.worker_id).sort();
  } finally {
    await t.close();
  }
}

function integrity(dir: string): string {
  const db = new Database(join(dir, STORE_FILE), { readonly: true });
  try {
    return (db.query('PRAGMA integrity_check').get() as { integrity_check: string })
      .integrity_check;
  } finally {
    db.close();
  }
}

test('a full disk: clear 5000 errors, existing sessions keep working, nothing lost', async () => {
  const dir = join(mountPoint, 'data');
  const t = await appOn(dir);
  const first = await t.post('/session/create', { worker_id: 'before', resource_type: 'bash' });
  expect(first.body.code).toBe(0);

  // Fill the filesystem to the last block.
  Bun.spawnSync(['bash', '-c', `dd if=/dev/zero of=${mountPoint}/filler bs=64k 2>/dev/null; sync`]);
  const created = await t.post('/session/create', { worker_id: 'during', resource_type: 'bash' });
  expect(created.status).toBe(500);
  expect(created.body.code).toBe(5000);
  expect(created.body.message).toMatch(/session store|space|full/i);
  const used = await t.post('/execute', {
    worker_id: 'before',
    action: 'bash:run',
    params: { command: 'echo still here' },
  });
  expect(used.body.code).toBe(0);
  expect(used.body.data.stdout).toBe('still here\n');
  expect((await t.get('/health')).status).toBe(200);

  rmSync(join(mountPoint, 'filler'));
  const after = await t.post('/session/create', { worker_id: 'after', resource_type: 'bash' });
  expect(after.body.code).toBe(0);
  await t.services.shutdown({ force: false, cleanupSessions: false });
  expect(integrity(dir)).toBe('ok');

  expect(await workersAfterReopen(dir)).toEqual(['after', 'before']);
});

test('a data directory turned read-only: clear 5000 errors, and the store reopens cleanly', async () => {
  const dir = join(mountPoint, 'data');
  const t = await appOn(dir);
  await t.post('/session/create', { worker_id: 'kept', resource_type: 'bash' });
  // A read-only bind mount over the directory: new files and directories cannot be made there.
  sh(`mount --bind ${dir} ${dir} && mount -o remount,bind,ro ${dir}`);
  try {
    const created = await t.post('/session/create', { worker_id: 'ro', resource_type: 'bash' });
    expect(created.status).toBe(500);
    expect(created.body.code).toBe(5000);
    expect(created.body.message).toMatch(/read-only/i);
    expect((await t.get('/health')).status).toBe(200);
  } finally {
    sh(`umount ${dir}`);
  }
  await t.services.shutdown({ force: false, cleanupSessions: false });
  expect(integrity(dir)).toBe('ok');
  expect(await workersAfterReopen(dir)).toEqual(['kept']);
});

test('a read-only data directory at start-up is a clear error', async () => {
  sh(`mount -o remount,ro ${mountPoint}`);
  const r = Bun.spawnSync([
    'bun',
    'run',
    join(ROOT, 'src/main.ts'),
    '--data-dir',
    join(mountPoint, 'data'),
  ]);
  expect(r.exitCode).not.toBe(0);
  const err = r.stderr.toString().trim();
  expect(err.split('\n')).toHaveLength(1);
  expect(err).toContain(join(mountPoint, 'data'));
});

test('zombie reaping: a session that leaves background processes is destroyed with none left', async () => {
  const t = await appOn(join(mountPoint, 'data'));
  try {
    await t.post('/session/create', { worker_id: 'zombies', resource_type: 'bash' });
    const r = await t.post('/execute', {
      worker_id: 'zombies',
      action: 'bash:run',
      params: {
        command: 'for i in 1 2 3; do (sleep 200 &); sleep 300 & done; (sleep 0.01 &) ; echo ok',
      },
    });
    expect(r.body.data.stdout).toBe('ok\n');
    const id = r.body.meta.session_id;
    await t.post('/session/destroy', { worker_id: 'zombies' });
    expect(await processesLeft(id)).toEqual([]);
  } finally {
    await t.close();
  }
});
