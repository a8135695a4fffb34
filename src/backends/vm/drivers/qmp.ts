// A QMP (QEMU Machine Protocol) client over a unix socket: JSON objects one per line, commands
// matched to answers by id, events ignored. Used by the qemu driver for screendump and
// input-send-event.
import { connect, type Socket } from 'node:net';

export class QmpError extends Error {}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class QmpClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer = '';
  private closedError: Error | undefined;
  /** Called once when the connection is lost (QEMU exited). */
  onClose: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.receive(text));
    const fail = () => this.fail(new QmpError('the QMP connection closed (QEMU exited)'));
    socket.on('close', fail);
    socket.on('error', fail);
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Connects, reads the greeting and enters command mode. */
  static async open(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ path });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new QmpError(`QMP at ${path} did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const client = new QmpClient(socket);
    await client.execute('qmp_capabilities');
    return client;
  }

  close(): void {
    this.onClose = undefined;
    this.fail(new QmpError('QMP connection closed'));
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.onClose?.();
  }

  private receive(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: { id?: number; return?: unknown; error?: { desc?: string } };
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      // The greeting and events carry no id; commands are sent with one.
      if (typeof msg.id !== 'number') continue;
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new QmpError(msg.error.desc ?? 'QMP command failed'));
      else p.resolve(msg.return);
    }
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const promise = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }),
    );
    this.socket.write(
      JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n',
    );
    return promise;
  }
}
