// /mcp end to end: the SDK's own Client and Streamable HTTP transport against the real server
// process (tools, state, queueing, timeout, cancellation, keys, Origin, protocol revisions), the
// stdio bridge through the SDK's StdioClientTransport, and vm screenshots as image content.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  cleanupServers,
  processesOfSessionIn,
  startServer,
  tempDir,
  type ServerProcess,
} from './helpers.ts';
import { decodePng, dockerReachable, SKIP_MESSAGE } from './fixtures/vm/docker.ts';

const ADMIN = 'mcp-admin-key-0123456789';
const ROLLOUT = 'mcp-rollout-key-0123456789';
const CONFIG = {
  api_key: ADMIN,
  api_keys: [{ key: ROLLOUT, name: 'rollout', scope: 'worker', workers: 'rollout-*' }],
  backends: { vm: { enabled: false }, rag: { enabled: false } },
};

const servers: ServerProcess[] = [];
let server: ServerProcess;
const clients: Client[] = [];

beforeAll(async () => {
  server = await startServer({ dataDir: tempDir('af-mcp-'), config: CONFIG });
  servers.push(server);
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await cleanupServers(servers);
});

/** An SDK client connected to /mcp with these headers (closed after the file). */
async function connect(headers: Record<string, string>, url = `${server.url}/mcp`) {
  const client = new Client({ name: 'agentflow-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

const asAdmin = (worker?: string) =>
  connect({ authorization: `Bearer ${ADMIN}`, ...(worker ? { 'x-worker-id': worker } : {}) });

const textOf = (r: CallToolResult) =>
  r.content
    .filter((c) => c.type === 'text')
    .map((c) => (c as { text: string }).text)
    .join('\n');

async function run(client: Client, command: string, extra: Record<string, unknown> = {}) {
  return (await client.callTool({
    name: 'bash_run',
    arguments: { command, ...extra },
  })) as CallToolResult;
}

const sessionIdOf = (r: CallToolResult) =>
  (r._meta?.['agentflow/meta'] as { session_id: string }).session_id;

describe('tools over /mcp', () => {
  test('tools/list has every tool with its schemas, and the session tools', async () => {
    const { client } = await asAdmin();
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    const res = await fetch(`${server.url}/tools`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const rest = ((await res.json()) as { tools: { name: string }[] }).tools;
    for (const t of rest) expect(byName.has(t.name.replace(':', '_'))).toBe(true);
    expect(tools.length).toBe(rest.length + 3);
    const bash = byName.get('bash_run')!;
    expect(bash.inputSchema.required).toEqual(['command']);
    expect(Object.keys(bash.outputSchema!.properties!)).toContain('exit_code');
    for (const name of ['session_create', 'session_destroy', 'session_list']) {
      expect(byName.has(name)).toBe(true);
    }
  });

  test('bash_run answers text and structuredContent; a temporary session without one', async () => {
    const { client } = await asAdmin();
    const r = await run(client, 'echo hello; exit 3');
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ stdout: 'hello\n', exit_code: 3 });
    expect(JSON.parse(textOf(r))).toMatchObject({ stdout: 'hello\n', exit_code: 3 });
    expect(r._meta?.['agentflow/meta']).toMatchObject({
      tool: 'bash:run',
      temporary_session: true,
    });
  });

  test('state persists across calls on the worker’s session; session tools manage it', async () => {
    const { client } = await asAdmin('mcp-state');
    const made = (await client.callTool({
      name: 'session_create',
      arguments: { resource_type: 'bash' },
    })) as CallToolResult;
    expect(made.isError).toBeFalsy();
    expect(made.structuredContent).toMatchObject({ resource_type: 'bash', created: true });
    await run(client, 'cd /tmp && export MCP_STATE=kept');
    const r = await run(client, 'echo "$PWD $MCP_STATE"');
    expect(r.structuredContent).toMatchObject({ stdout: '/tmp kept\n' });
    expect(r._meta?.['agentflow/meta']).toMatchObject({ temporary_session: false });
    // The same session as REST sees for the worker.
    const listed = (await server.post('/session/list', { worker_id: 'mcp-state' })).body;
    expect(listed.code).toBe(1006); // no key: REST is keyed too
    const list = (await client.callTool({ name: 'session_list' })) as CallToolResult;
    expect(list.structuredContent).toMatchObject({ worker_id: 'mcp-state', count: 1 });
    const gone = (await client.callTool({
      name: 'session_destroy',
      arguments: { resource_type: 'bash' },
    })) as CallToolResult;
    expect(gone.structuredContent).toMatchObject({ count: 1 });
    const again = (await client.callTool({
      name: 'session_destroy',
      arguments: { resource_type: 'bash' },
    })) as CallToolResult;
    expect(again.isError).toBe(true);
    expect(again._meta?.['agentflow/code']).toBe(1003);
  });

  test('two concurrent calls on one session run one after the other', async () => {
    const { client } = await asAdmin('mcp-queue');
    await client.callTool({ name: 'session_create', arguments: { resource_type: 'bash' } });
    const cmd = 'echo "$(date +%s%N) $(sleep 0.4; date +%s%N)"';
    const [a, b] = await Promise.all([run(client, cmd), run(client, cmd)]);
    const span = (r: CallToolResult) =>
      String((r.structuredContent as { stdout: string }).stdout)
        .trim()
        .split(' ')
        .map(Number) as [number, number];
    const [first, second] = [span(a), span(b)].sort((x, y) => x[0] - y[0]);
    expect(second![0]).toBeGreaterThanOrEqual(first![1]);
    expect(sessionIdOf(a)).toBe(sessionIdOf(b));
  });

  test('a command past its timeout is killed: isError with code 2002 and its output', async () => {
    const { client } = await asAdmin();
    const r = await run(client, 'echo before; sleep 10', { timeout: 0.5 });
    expect(r.isError).toBe(true);
    expect(r._meta?.['agentflow/code']).toBe(2002);
    expect(textOf(r)).toContain('before');
  });

  test('bad params and an unknown tool: isError 1002, and a JSON-RPC error', async () => {
    const { client } = await asAdmin();
    const bad = (await client.callTool({
      name: 'bash_run',
      arguments: { command: 42 },
    })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(bad._meta?.['agentflow/code']).toBe(1002);
    await expect(client.callTool({ name: 'bash_nope' })).rejects.toThrow(/Unknown tool/);
  });

  /** A command that would write a file after a while; killing it stops that. */
  const SLOW = `sh -c 'sleep 31; touch marker'`;

  /** Pids of the processes of SLOW in the session (the command the test then cancels). */
  const sleepers = (sessionId: string) =>
    processesOfSessionIn(server.dataDir, sessionId).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('31');
      } catch {
        return false;
      }
    });

  async function waitFor(what: string, ok: () => boolean, ms = 5000) {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await Bun.sleep(25);
    }
  }

  test('notifications/cancelled kills the running command', async () => {
    const { client } = await asAdmin('mcp-cancel');
    const made = await run(client, 'true');
    expect(made.isError).toBeFalsy();
    await client.callTool({ name: 'session_create', arguments: { resource_type: 'bash' } });
    const probe = await run(client, 'rm -f marker');
    const sessionId = sessionIdOf(probe);
    const abort = new AbortController();
    const call = client
      .callTool({ name: 'bash_run', arguments: { command: SLOW } }, undefined, {
        signal: abort.signal,
      })
      .catch((err: Error) => err);
    await waitFor('the sleep to start', () => sleepers(sessionId).length > 0);
    abort.abort();
    expect(await call).toBeInstanceOf(Error);
    await waitFor('the sleep to be killed', () => sleepers(sessionId).length === 0);
    // The shell stays usable, and the rest of the cancelled command never ran.
    const after = await run(client, 'ls marker 2>&1; echo done');
    expect((after.structuredContent as { stdout: string }).stdout).toContain('No such file');
  });

  test('a client closing its stream kills the running command', async () => {
    const worker = 'mcp-close';
    const first = await asAdmin(worker);
    await first.client.callTool({ name: 'session_create', arguments: { resource_type: 'bash' } });
    const sessionId = sessionIdOf(await run(first.client, 'true'));
    const call = run(first.client, SLOW).catch((err: Error) => err);
    await waitFor('the sleep to start', () => sleepers(sessionId).length > 0);
    await first.client.close();
    expect(await call).toBeInstanceOf(Error);
    await waitFor('the sleep to be killed', () => sleepers(sessionId).length === 0);
    const second = await asAdmin(worker);
    const after = await run(second.client, 'ls marker 2>&1; echo done');
    expect(sessionIdOf(after)).toBe(sessionId);
    expect((after.structuredContent as { stdout: string }).stdout).toContain('No such file');
  });
});

describe('keys, workers and origins on /mcp', () => {
  const post = (headers: Record<string, string>, body: unknown = initialize('2025-11-25')) =>
    fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  test('no key or a wrong key: 401 with code 1006, before the SDK', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-key-0123456789' }] as Record<
      string,
      string
    >[]) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: number }).code).toBe(1006);
    }
  });

  test('a worker key limited to rollout-* works as rollout-1 and touches no other worker', async () => {
    const mine = await connect({ authorization: `Bearer ${ROLLOUT}`, 'x-worker-id': 'rollout-1' });
    const r = await run(mine.client, 'echo ok');
    expect(r.structuredContent).toMatchObject({ stdout: 'ok\n' });
    expect((r._meta?.['agentflow/meta'] as { session_id: string }).session_id).toContain(
      'rollout-1',
    );
    for (const headers of [{ 'x-worker-id': 'eval-1' }, {}] as Record<string, string>[]) {
      const res = await post({ authorization: `Bearer ${ROLLOUT}`, ...headers });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: number }).code).toBe(1006);
    }
    // An admin's MCP session is not reachable with the worker key, even by its id.
    const admin = await asAdmin('eval-1');
    const res = await post(
      {
        authorization: `Bearer ${ROLLOUT}`,
        'x-worker-id': 'rollout-1',
        'mcp-session-id': admin.transport.sessionId!,
        'mcp-protocol-version': '2025-11-25',
      },
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    );
    expect(res.status).toBe(404);
    // Nor may the worker id change within a session.
    const switched = await post(
      {
        authorization: `Bearer ${ROLLOUT}`,
        'x-worker-id': 'rollout-2',
        'mcp-session-id': mine.transport.sessionId!,
        'mcp-protocol-version': '2025-11-25',
      },
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    );
    expect(switched.status).toBe(403);
    // The session's stream of server messages (a GET, no body) is keyed by the header alike.
    const stream = await fetch(`${server.url}/mcp`, {
      headers: {
        authorization: `Bearer ${ROLLOUT}`,
        'x-worker-id': 'rollout-1',
        'mcp-session-id': mine.transport.sessionId!,
        accept: 'text/event-stream',
      },
    });
    expect(stream.status).toBe(409); // the SDK client already holds it open
    await stream.body?.cancel();
  });

  test('a foreign Origin is refused with 403; the server’s own origin passes', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const foreign = await post({ ...auth, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { message: string }).message).toContain('Origin');
    const own = await post({ ...auth, origin: server.url });
    expect(own.status).toBe(200);
    await own.body?.cancel();
  });

  test('every protocol revision the SDK serves: initialize, session header, DELETE', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    for (const version of ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']) {
      const init = await post(auth, initialize(version));
      expect(init.status).toBe(200);
      const sessionId = init.headers.get('mcp-session-id')!;
      expect(sessionId).toBeTruthy();
      expect(sseMessage(await init.text()).result.protocolVersion).toBe(version);
      const headers = { ...auth, 'mcp-session-id': sessionId, 'mcp-protocol-version': version };
      expect(
        (await post(headers, { jsonrpc: '2.0', method: 'notifications/initialized' })).status,
      ).toBe(202);
      const list = await post(headers, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
      expect(sseMessage(await list.text()).result.tools.length).toBeGreaterThan(3);
      const end = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers });
      expect(end.status).toBe(200);
      const after = await post(headers, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
      expect(after.status).toBe(404);
    }
  });

  test('requests without a session, or not JSON-RPC, get clear 4xx answers', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const get = await fetch(`${server.url}/mcp`, {
      headers: { ...auth, accept: 'text/event-stream' },
    });
    expect(get.status).toBe(400);
    expect(((await get.json()) as { message: string }).message).toContain('Mcp-Session-Id');
    const notRpc = await post(auth, { hello: 'world' });
    expect(notRpc.status).toBe(400);
    const listFirst = await post(auth, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(listFirst.status).toBe(400);
    // A batch (no SDK client sends one) and a body that is not JSON: 1002, as on every route.
    const batch = await post(auth, [initialize('2025-03-26')]);
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as { code: number }).code).toBe(1002);
    const broken = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"jsonrpc": ',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { code: number }).code).toBe(1002);
    // Inside a session: a tools/call without a name is a JSON-RPC error (HTTP 200), not a 500.
    const init = await post(auth);
    const headers = {
      ...auth,
      'mcp-session-id': init.headers.get('mcp-session-id')!,
      'mcp-protocol-version': '2025-11-25',
    };
    await init.text();
    const nameless = await post(headers, {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { arguments: 'x' },
    });
    expect(nameless.status).toBe(200);
    // The SDK answers its own params check as -32603, naming the field.
    const error = sseMessage(await nameless.text()).error;
    expect(error.code).toBe(-32603);
    expect(error.message).toContain('"name"');
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });
});

describe('MCP sessions: bounded, idle ones ended, a generated worker cleaned up, timeouts', () => {
  let small: ServerProcess;
  beforeAll(async () => {
    small = await startServer({
      dataDir: tempDir('af-mcp-small-'),
      config: {
        mcp: { max_sessions: 2, idle_timeout_seconds: 1 },
        execution: { default_timeout_seconds: 1 },
        backends: { vm: { enabled: false }, rag: { enabled: false } },
      },
    });
    servers.push(small);
  });

  const open = () =>
    fetch(`${small.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(initialize('2025-11-25')),
    });

  test('one past mcp.max_sessions is 2004; an idle session is ended and frees its place', async () => {
    const first = await open();
    const second = await open();
    expect([first.status, second.status]).toEqual([200, 200]);
    await Promise.all([first.text(), second.text()]);
    const third = await open();
    expect(third.status).toBe(503);
    expect(((await third.json()) as { code: number }).code).toBe(2004);
    // Both go idle past mcp.idle_timeout_seconds (1 s): a new one finds its place.
    await Bun.sleep(1500);
    const again = await open();
    expect(again.status).toBe(200);
    await again.text();
    const ended = await fetch(`${small.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': first.headers.get('mcp-session-id')!,
      },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    expect(ended.status).toBe(404);
  }, 20_000);

  test('a generated worker id’s sessions end with its MCP session', async () => {
    const { client, transport } = await connect({}, `${small.url}/mcp`);
    const made = (await client.callTool({
      name: 'session_create',
      arguments: { resource_type: 'bash' },
    })) as CallToolResult;
    const worker = (made.structuredContent as { worker_id: string }).worker_id;
    expect(worker).toMatch(/^mcp-[0-9a-f]{12}$/);
    expect((await small.post('/session/list', { worker_id: worker })).body.data.count).toBe(1);
    // A tool's own timeout longer than the default bounds the call (MCP has no other).
    const slow = await run(client, 'sleep 1.5; echo late', { timeout: 3 });
    expect(slow.structuredContent).toMatchObject({ stdout: 'late\n' });
    const cut = await run(client, 'sleep 1.5; echo late');
    expect(cut._meta?.['agentflow/code']).toBe(2002);
    await transport.terminateSession();
    const deadline = Date.now() + 5000;
    let count = 1;
    while (count > 0 && Date.now() < deadline) {
      count = (await small.post('/session/list', { worker_id: worker })).body.data.count;
      if (count > 0) await Bun.sleep(25);
    }
    expect(count).toBe(0);
  });
});

describe('the stdio bridge', () => {
  let binDir: string;
  beforeAll(() => {
    binDir = tempDir('af-mcp-bin-');
    const build = Bun.spawnSync([
      'bun',
      'run',
      join(ROOT, 'scripts/build-binary.ts'),
      join(binDir, 'agentflow-server'),
    ]);
    if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  }, 120_000);
  afterAll(() => rmSync(binDir, { recursive: true, force: true }));

  const bridges: Record<string, () => { command: string; args: string[]; cwd?: string }> = {
    source: () => ({ command: 'bun', args: ['run', join(ROOT, 'src/main.ts'), 'mcp'] }),
    'compiled binary': () => ({
      command: join(binDir, 'agentflow-server'),
      args: ['mcp'],
      cwd: binDir,
    }),
  };

  for (const [kind, bridge] of Object.entries(bridges)) {
    test(`agentflow-server mcp (${kind}) bridges the SDK’s stdio client to /mcp`, async () => {
      const { command, args, cwd } = bridge();
      const worker = `rollout-stdio-${kind.replace(' ', '-')}`;
      const transport = new StdioClientTransport({
        command,
        args: [...args, '--url', `${server.url}/mcp`, '--key', ROLLOUT, '--worker', worker],
        cwd,
        stderr: 'pipe',
      });
      const client = new Client({ name: 'agentflow-stdio-test', version: '1.0.0' });
      await client.connect(transport);
      clients.push(client);
      const { tools } = await client.listTools();
      expect(tools.some((t) => t.name === 'bash_run')).toBe(true);
      const r = await run(client, 'echo via-stdio');
      expect(r.structuredContent).toMatchObject({ stdout: 'via-stdio\n' });
      expect(sessionIdOf(r)).toContain(worker);
      await client.close();
    }, 30_000);
  }

  test('a bridge to a server that is not there answers the client with an error', async () => {
    const transport = new StdioClientTransport({
      command: 'bun',
      args: ['run', join(ROOT, 'src/main.ts'), 'mcp', '--url', 'http://127.0.0.1:9/mcp'],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'agentflow-stdio-test', version: '1.0.0' });
    await expect(client.connect(transport)).rejects.toThrow(/127\.0\.0\.1:9/);
    await transport.close().catch(() => undefined);
  }, 30_000);
});

describe('MCP Inspector', () => {
  const INSPECTOR = join(
    ROOT,
    'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js',
  );
  const inspect = (...args: string[]) => {
    const out = Bun.spawnSync(
      [
        'bun',
        INSPECTOR,
        '--cli',
        `${server.url}/mcp`,
        '--transport',
        'http',
        '--header',
        `Authorization: Bearer ${ROLLOUT}`,
        '--header',
        'X-Worker-ID: rollout-inspector',
        ...args,
      ],
      { timeout: 60_000 },
    );
    expect({ exit: out.exitCode, stderr: out.stderr.toString().slice(-500) }).toMatchObject({
      exit: 0,
    });
    return JSON.parse(out.stdout.toString());
  };

  test('its CLI lists the tools and calls bash_run headless', () => {
    const listed = inspect('--method', 'tools/list');
    expect(listed.tools.map((t: { name: string }) => t.name)).toContain('session_list');
    const called = inspect(
      '--method',
      'tools/call',
      '--tool-name',
      'bash_run',
      '--tool-arg',
      'command=echo from-inspector',
    );
    expect(called.structuredContent).toMatchObject({ stdout: 'from-inspector\n', exit_code: 0 });
    expect(called._meta['agentflow/meta'].session_id).toContain('rollout-inspector');
  }, 120_000);
});

describe('rag over /mcp', () => {
  test('rag_search answers structuredContent that passes its outputSchema', async () => {
    const ragServer = await startServer({
      dataDir: tempDir('af-mcp-rag-'),
      config: { backends: { vm: { enabled: false } } },
    });
    servers.push(ragServer);
    const { client } = await connect({}, `${ragServer.url}/mcp`);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'rag_search')?.outputSchema?.type).toBe('object');
    // The SDK client checks structuredContent against the outputSchema: a mismatch throws.
    const r = (await client.callTool(
      { name: 'rag_search', arguments: { query: 'session', top_k: 2 } },
      undefined,
      { timeout: 60_000 },
    )) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const found = r.structuredContent as { results: unknown[]; context: string };
    expect(found.results.length).toBeGreaterThan(0);
    expect(typeof found.context).toBe('string');
  }, 90_000);
});

const reachable = await dockerReachable();
if (!reachable) console.warn(SKIP_MESSAGE);

(reachable ? describe : describe.skip)('vm over /mcp', () => {
  const SIZE = [800, 600] as const;
  let vmServer: ServerProcess;
  beforeAll(async () => {
    vmServer = await startServer({
      dataDir: tempDir('af-mcp-vm-'),
      config: { backends: { rag: { enabled: false } } },
    });
    servers.push(vmServer);
  });

  test('vm_screenshot is an image content block, a PNG of the session’s size', async () => {
    const { client } = await connect({ 'x-worker-id': 'mcp-vm' }, `${vmServer.url}/mcp`);
    const made = (await client.callTool(
      { name: 'session_create', arguments: { resource_type: 'vm', config: { screen_size: SIZE } } },
      undefined,
      { timeout: 120_000 },
    )) as CallToolResult;
    expect(made.isError).toBeFalsy();
    const r = (await client.callTool({ name: 'vm_screenshot' }, undefined, {
      timeout: 60_000,
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const image = r.content.find((c) => c.type === 'image') as { data: string; mimeType: string };
    expect(image.mimeType).toBe('image/png');
    const png = decodePng(Buffer.from(image.data, 'base64'));
    expect([png.width, png.height]).toEqual([SIZE[0], SIZE[1]]);
    expect(r.structuredContent).toEqual({ format: 'png', width: SIZE[0], height: SIZE[1] });
    expect(textOf(r)).not.toContain(image.data.slice(0, 64));
    await client.callTool({ name: 'session_destroy', arguments: { resource_type: 'vm' } });
  }, 180_000);
});

function initialize(protocolVersion: string) {
  return {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  };
}

/** The JSON-RPC message of a one-message answer (JSON, or an SSE stream of one event). */
function sseMessage(text: string): any {
  const line = text.split('\n').find((l) => l.startsWith('data: '));
  return JSON.parse(line === undefined ? text : line.slice(6));
}
