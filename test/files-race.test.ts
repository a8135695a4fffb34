// The file tools against a session that swaps its paths for symbolic links (or FIFOs) while they
// run (time-of-check to time-of-use): thousands of read_file/write_file calls on the real server
// process must never return another session's file, the store or the server's own environment,
// never write outside the workspace and never hang.
import { expect, test } from 'bun:test';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverFixture, startServer, tempDir, type ServerProcess } from './helpers.ts';

const { newDataDir } = serverFixture('af-race-');

const CALLS = 3000;
const BUDGET_MS = 20_000;

async function bash(s: ServerProcess, worker: string, command: string): Promise<string> {
  const r = await s.post('/execute', {
    worker_id: worker,
    action: 'bash:run',
    params: { command },
  });
  expect(r.body.code).toBe(0);
  return r.body.data.stdout;
}

/** A background loop swapping `name` between a regular file and what `make` makes as `l.new`. */
const swap = (name: string, make: string) =>
  `printf 'harmless\\n' > real.txt; cp real.txt ${name}
  (while :; do
    ${make} && mv -Tf l.new ${name}
    cp real.txt f.new && mv -Tf f.new ${name}
  done) >/dev/null 2>&1 &`;
const swapFile = (name: string, target: string) => swap(name, `ln -sfn '${target}' l.new`);

/** A background loop swapping the directory `name` for a symlink to the directory `target`. */
const swapDir = (name: string, target: string) =>
  `mkdir -p ${name} && printf 'harmless\\n' > ${name}/f
  (while :; do
    ln -sfn '${target}' l.new && mv -T ${name} real.d && mv -T l.new ${name}
    rm -f ${name} && mv -T real.d ${name}
  done) >/dev/null 2>&1 &`;

test('swapping paths for symlinks during read_file/write_file leaks nothing, writes nothing outside', async () => {
  const secret = `env-secret-${crypto.randomUUID()}`;
  const dataDir = newDataDir();
  // Started here, not by the fixture's start, to put a secret in the server process's env; the
  // fixture still kills what is left of its sessions and removes the data directory.
  const server = await startServer({
    dataDir,
    config: { log_level: 'error' },
    env: { AGENTFLOW_RACE_SECRET: secret },
  });
  const outside = tempDir('af-race-out-');
  const outsideSecret = `outside-secret-${crypto.randomUUID()}`;
  writeFileSync(join(outside, 'f'), outsideSecret);
  try {
    const victimSecret = `victim-secret-${crypto.randomUUID()}`;
    const made = await server.post('/session/create', {
      worker_id: 'victim',
      resource_type: 'bash',
    });
    const victimFile = join(dataDir, 'workspaces', made.body.data.session_id, 'secret.txt');
    writeFileSync(victimFile, victimSecret);
    const db = join(dataDir, 'agentflow.db');
    const dbBefore = readFileSync(db).subarray(0, 100);

    const attacks = [
      { worker: 'att-other', setup: swapFile('f', victimFile), read: 'f', write: 'f' },
      { worker: 'att-db', setup: swapFile('f', db), read: 'f', write: 'f' },
      { worker: 'att-environ', setup: swapFile('f', '/proc/self/environ'), read: 'f', write: 'f' },
      { worker: 'att-dir', setup: swapDir('d', outside), read: 'd/f', write: 'd/pwned.txt' },
      // Not a leak but a hang: a FIFO opened without O_NONBLOCK blocks until someone reads it.
      { worker: 'att-fifo', setup: swap('f', 'mkfifo l.new'), read: 'f', write: 'f' },
    ];
    for (const a of attacks) {
      await server.post('/session/create', { worker_id: a.worker, resource_type: 'bash' });
      await bash(server, a.worker, a.setup);
    }

    const leaks: string[] = [];
    const counts = { calls: 0, ok: 0, refused: 0 };
    const deadline = Date.now() + BUDGET_MS;
    const stream = async (a: (typeof attacks)[number]) => {
      for (let i = 0; counts.calls < CALLS && Date.now() < deadline; i++) {
        counts.calls++;
        const r =
          i % 2 === 0
            ? await server.post('/execute', {
                worker_id: a.worker,
                action: 'bash:read_file',
                params: { path: a.read },
                timeout: 5,
              })
            : await server.post('/execute', {
                worker_id: a.worker,
                action: 'bash:write_file',
                params: { path: a.write, content: `pwned by ${a.worker}\n` },
                timeout: 5,
              });
        if (r.body.code === 0) counts.ok++;
        else counts.refused++;
        if (r.body.code === 0 && i % 2 === 0) {
          const content = r.body.data.content as string;
          if (content !== 'harmless\n' && !content.startsWith('pwned by ')) {
            leaks.push(`${a.worker} read ${JSON.stringify(content.slice(0, 80))}`);
          }
        }
        if (r.body.code !== 0 && r.body.code !== 1002) {
          leaks.push(`${a.worker}: unexpected ${r.body.code} ${r.body.message}`);
        }
      }
    };
    await Promise.all(attacks.map(stream));

    expect(leaks).toEqual([]);
    expect(counts.calls).toBeGreaterThan(200);
    // Both outcomes happened: the loops really raced the calls.
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
    expect(readFileSync(victimFile, 'utf8')).toBe(victimSecret);
    expect(readFileSync(db).subarray(0, 100).equals(dbBefore)).toBe(true);
    expect(readFileSync(db, 'latin1')).not.toContain('pwned by');
    expect(readdirSync(outside)).toEqual(['f']);
    expect(readFileSync(join(outside, 'f'), 'utf8')).toBe(outsideSecret);
    // The server is still healthy and serves other sessions.
    expect(await bash(server, 'victim', 'cat secret.txt')).toBe(victimSecret);
  } finally {
    await server.kill();
    rmSync(outside, { recursive: true, force: true });
  }
}, 60_000);
