// vm:exec for Docker desktops: one `docker exec` through the Engine API, stdout and stderr split
// from Docker's multiplexed stream, output capped, and a deadline that really stops the command:
// Docker has no "kill exec" call, so the command runs under coreutils `timeout -s KILL`, which
// kills its whole process group.
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import type { ExecResult } from '../desktop.ts';
import { CappedOutput } from '../../../core/capped-output.ts';

export interface ExecOptions {
  timeoutMs: number;
  /** Bytes kept per stream. */
  outputLimit: number;
  env?: string[];
}

/** Past the deadline, how long the in-container `timeout` gets before we stop waiting. */
const HOST_GRACE_MS = 3000;
/** After the command's own process exits, how long its output may still drain. */
const DRAIN_MS = 50;

/** Splits Docker's multiplexed exec stream: 8-byte frame headers (stream id, size) + payload. */
function demux(stream: Duplex, out: CappedOutput, err: CappedOutput): void {
  let pending: Buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      (pending[0] === 2 ? err : out).push(payload);
      pending = pending.subarray(8 + size);
    }
  });
}

export async function dockerExec(
  container: Docker.Container,
  command: string,
  options: ExecOptions,
): Promise<ExecResult> {
  const started = performance.now();
  const seconds = Math.max(0.001, options.timeoutMs / 1000).toFixed(3);
  const exec = await container.exec({
    Cmd: ['timeout', '-s', 'KILL', seconds, 'bash', '-c', command],
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Env: options.env,
  });
  const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
  const out = new CappedOutput(options.outputLimit);
  const err = new CappedOutput(options.outputLimit);
  demux(stream, out, err);

  let hostTimedOut = false;
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearInterval(poll);
      stream.destroy();
      resolve();
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
    const deadline = setTimeout(() => {
      hostTimedOut = true;
      finish();
    }, options.timeoutMs + HOST_GRACE_MS);
    // A background child (`xterm &`) keeps the stream open after the command itself ended:
    // stop reading shortly after the command's own process is gone.
    const poll = setInterval(() => {
      exec
        .inspect()
        .then((info) => {
          if (!info.Running) setTimeout(finish, DRAIN_MS);
        })
        .catch(() => undefined);
    }, 200);
  });

  const info = await exec.inspect().catch(() => undefined);
  const duration = performance.now() - started;
  let exitCode = info && !info.Running ? info.ExitCode : null;
  const timedOut = hostTimedOut || (exitCode === 137 && duration >= options.timeoutMs - 50);
  if (hostTimedOut) exitCode = null;
  return {
    stdout: out.text(),
    stderr: err.text(),
    exit_code: exitCode,
    timed_out: timedOut,
    truncated: out.truncated || err.truncated,
    duration_ms: Math.round(duration * 100) / 100,
  };
}
