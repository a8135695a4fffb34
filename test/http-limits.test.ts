// End-to-end, over a raw socket: request bodies over limits.max_body_bytes answer 413 + 1002 with
// the envelope however they are sent (Bun's own limit used to answer a bare 413 first), and an
// oversized header section, which Bun refuses before any of our code runs, leaves the server up.
import { expect, test } from 'bun:test';
import { connect } from 'node:net';
import { serverFixture, type ServerProcess } from './helpers.ts';

const ADMIN = 'admin-key-0123456789abcdef';
const LIMIT = 4096;
const fixture = serverFixture('af-limits-');

const start = () =>
  fixture.start(fixture.newDataDir(), {
    api_key: ADMIN,
    limits: { max_body_bytes: LIMIT },
    log_level: 'silent',
    backends: { vm: { enabled: false }, rag: { enabled: false } },
  });

interface RawReply {
  status: number;
  head: string;
  body: string;
}

/**
 * Writes `parts` on a fresh connection (one write each) and reads one answer: until its
 * Content-Length is in, or the server closes the connection.
 */
function raw(server: ServerProcess, ...parts: string[]): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(server.port, '127.0.0.1', async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        if (!socket.write(part)) await new Promise((r) => socket.once('drain', r));
      }
    });
    const reply = (): RawReply | null => {
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return null;
      const head = all.slice(0, split);
      const body = all.slice(split + 4);
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      if (length && body.length < Number(length[1])) return null;
      return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? 0), head, body };
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const r = reply();
      if (r && /\r\ncontent-length: /i.test(r.head)) {
        socket.destroy();
        resolve(r);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(reply() ?? { status: 0, head: '', body: '' }));
  });
}

const envelopeOf = (reply: RawReply) => {
  const body = /\r\ntransfer-encoding: chunked/i.test(reply.head)
    ? reply.body.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '')
    : reply.body;
  return JSON.parse(body) as { code: number; message: string; meta: { error_type: string } };
};

// No Connection: close: the server answers while the client still sends, and closing then would
// reset the connection under the answer.
const head = (lines: string[]) =>
  ['POST /execute HTTP/1.1', 'Host: 127.0.0.1', ...lines, '', ''].join('\r\n');
const auth = `Authorization: Bearer ${ADMIN}`;
const command = (size: number) =>
  JSON.stringify({ worker_id: 'w', action: 'bash:run', params: { command: 'x'.repeat(size) } });

test('413 + 1002 with the envelope for Content-Length over the limit, near or far', async () => {
  const server = await start();
  for (const length of [LIMIT + 1, LIMIT + 5000, 10 * 1024 * 1024, 1e12]) {
    // Only the headers: the answer must not wait for (or need) the body.
    const withKey = await raw(server, head([auth, `Content-Length: ${length}`]));
    expect([length, withKey.status]).toEqual([length, 413]);
    expect(envelopeOf(withKey)).toMatchObject({
      code: 1002,
      meta: { error_type: 'PayloadTooLargeError' },
    });
    // The size is checked before the key: the same answer without one.
    const noKey = await raw(server, head([`Content-Length: ${length}`]));
    expect([length, noKey.status, envelopeOf(noKey).code]).toEqual([length, 413, 1002]);
  }
  const body = command(LIMIT + 100);
  const sent = await raw(server, head([auth, `Content-Length: ${body.length}`]) + body);
  expect([sent.status, envelopeOf(sent).code]).toEqual([413, 1002]);
});

test('413 + 1002 with the envelope for a chunked body over the limit, however large', async () => {
  const server = await start();
  for (const size of [LIMIT + 100, 4 * 1024 * 1024]) {
    const body = command(size);
    const chunks: string[] = [];
    for (let i = 0; i < body.length; i += 64 * 1024) {
      const piece = body.slice(i, i + 64 * 1024);
      chunks.push(`${piece.length.toString(16)}\r\n${piece}\r\n`);
    }
    const reply = await raw(
      server,
      head([auth, 'Transfer-Encoding: chunked']),
      ...chunks,
      '0\r\n\r\n',
    );
    expect([size, reply.status]).toEqual([size, 413]);
    expect(envelopeOf(reply)).toMatchObject({
      code: 1002,
      meta: { error_type: 'PayloadTooLargeError' },
    });
  }
  // Without a key the key is refused first, and the body is never read.
  const body = command(LIMIT + 100);
  const noKey = await raw(
    server,
    head(['Transfer-Encoding: chunked']),
    `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
  );
  expect([noKey.status, envelopeOf(noKey).code]).toEqual([401, 1006]);
  // A chunked body within the limit is read as usual.
  const small = JSON.stringify({
    worker_id: 'w',
    action: 'bash:run',
    params: { command: 'echo ok' },
  });
  const ok = await raw(
    server,
    head([auth, 'Transfer-Encoding: chunked']),
    `${small.length.toString(16)}\r\n${small}\r\n0\r\n\r\n`,
  );
  expect(ok.status).toBe(200);
  expect(envelopeOf(ok).code).toBe(0);
});

test('a 64 KiB header: Bun answers a bare 431 itself; the server keeps serving', async () => {
  const server = await start();
  const reply = await raw(
    server,
    ['GET /health HTTP/1.1', 'Host: 127.0.0.1', `X-Big: ${'h'.repeat(64 * 1024)}`, '', ''].join(
      '\r\n',
    ),
  );
  // As documented in the README: Bun's HTTP parser, before any JS, no envelope, connection closed.
  expect(reply.status).toBe(431);
  expect(reply.head).toContain('Connection: close');
  expect(reply.body).toBe('');
  const next = await raw(
    server,
    ['GET /health HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', '', ''].join('\r\n'),
  );
  expect(next.status).toBe(200);
  const keyed = await fetch(server.url + '/tools', {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  expect(keyed.status).toBe(200);
  expect(server.proc.exitCode).toBeNull();
});
