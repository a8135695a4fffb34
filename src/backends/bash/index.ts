// The bash backend: a persistent shell per session in its own workspace directory (SPEC §6).
import { Type as t } from '@sinclair/typebox';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Backend, BackendEnv, SessionInfo } from '../backend.ts';
import { defineBackendModule, defineTool } from '../backend.ts';
import {
  ConfigError,
  ExecutionTimeoutError,
  ParameterError,
  WarmupError,
} from '../../core/errors.ts';
import { workerUrl } from '../../core/workers.ts';
import { SessionCgroups } from './cgroups.ts';
import { ENV_NAME, checkSessionEnv } from './env.ts';
import { makeWorkspaceDirectory, readWorkspaceFile, writeWorkspaceFile } from './files.ts';
import type { ProbeInput, ProbeResult } from './probe-worker.ts';
import { ShellPool, type PooledShell } from './pool.ts';
import { descendantsOf, killAll, processesWithEnv, uidsInUse } from './processes.ts';
import { shellPrefix, type SandboxPlan } from './sandbox.ts';
import { sessionFilter } from './seccomp.ts';
import { SessionUids } from './session-uids.ts';
import { ShellSession, type ShellOptions } from './shell.ts';
import { Trash } from './trash.ts';

export const bashConfigSchema = t.Object(
  {
    enabled: t.Boolean({ default: true }),
    shell: t.String({ default: 'bash', minLength: 1, description: 'bash binary (name or path)' }),
    output_limit_bytes: t.Integer({
      default: 1024 * 1024,
      minimum: 1024,
      description: 'Bytes kept per stream (stdout, stderr) per command; the rest is cut',
    }),
    max_file_bytes: t.Integer({
      default: 10 * 1024 * 1024,
      minimum: 1,
      description: 'Largest file bash:read_file returns',
    }),
    env: t.Record(t.String(), t.String(), {
      default: {},
      description: 'Environment given to every shell, before the session config env',
    }),
    isolation: t.Union([t.Literal('auto'), t.Literal('bwrap'), t.Literal('none')], {
      default: 'auto',
      description:
        'auto: bubblewrap when it works here, else none with a warning; bwrap: required; none: no sandbox',
    }),
    allow_network: t.Boolean({
      default: false,
      description: 'Whether a session may ask for network access (session config network: true)',
    }),
    host_dirs: t.Array(t.String({ minLength: 1 }), {
      default: [],
      description: 'Host directories sessions may use as cwd, bound read-write into the sandbox',
    }),
    pool: t.Object(
      {
        size: t.Integer({
          default: 4,
          minimum: 0,
          maximum: 256,
          description:
            'Sandboxed shells kept started for new and temporary sessions (0: off; ~4 MB each)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    session_uids: t.Object(
      {
        first: t.Integer({ default: 200000, minimum: 1000, description: 'First uid (and gid)' }),
        count: t.Integer({ default: 65536, minimum: 1, description: 'How many uids' }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'When the server runs as root, each sandboxed session runs as its own uid from this range',
      },
    ),
    limits: t.Object(
      {
        cpu_seconds: t.Optional(t.Integer({ minimum: 1, description: 'CPU seconds per process' })),
        memory_mb: t.Optional(t.Integer({ minimum: 16, description: 'Address space per process' })),
        file_size_mb: t.Integer({ default: 1024, minimum: 1, description: 'Largest file written' }),
        open_files: t.Integer({ default: 1024, minimum: 16 }),
        processes: t.Optional(
          t.Integer({
            minimum: 1,
            description:
              'Processes of the session uid (default 512 when sessions have their own uid)',
          }),
        ),
        session_memory_mb: t.Integer({
          default: 4096,
          minimum: 16,
          description: 'Memory of all of a session’s processes together (cgroup, server as root)',
        }),
        session_processes: t.Integer({
          default: 1024,
          minimum: 8,
          description: 'Processes and threads of a session together (cgroup, server as root)',
        }),
        tmp_mb: t.Integer({
          default: 256,
          minimum: 1,
          description: 'Size of each private tmpfs of a sandboxed session (/tmp, /dev/shm …)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

const sessionConfig = t.Object(
  {
    cwd: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 4096,
        description:
          'Start directory as the session sees it: relative paths are inside the workspace ' +
          '(created); absolute ones must exist in the session (its /tmp, workspace, host_dirs …)',
      }),
    ),
    network: t.Optional(
      t.Boolean({ description: 'Network access (only when the server config allows it)' }),
    ),
    env: t.Optional(
      t.Record(
        t.String({ pattern: ENV_NAME.source, maxLength: 256 }),
        t.String({ maxLength: 32768 }),
        {
          description: 'Extra environment variables for the shell',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

const runResult = t.Object({
  stdout: t.String(),
  stderr: t.String(),
  exit_code: t.Union([t.Integer(), t.Null()]),
  return_code: t.Union([t.Integer(), t.Null()], {
    description: "exit_code again, under the name upstream's result formatter reads",
  }),
  timed_out: t.Boolean(),
  truncated: t.Boolean(),
  cwd: t.String(),
  duration_ms: t.Number(),
});

const encoding = t.Optional(t.Union([t.Literal('utf8'), t.Literal('base64')], { default: 'utf8' }));

interface BashHandle {
  shell: ShellSession;
  workspace: string;
  /** The session's own uid (and gid), when the server runs as root and sandboxes. */
  uid?: number;
}

/** Variables of the server (keys, config) never reach a session: the shell gets a fresh env. */
const BASE_ENV_FROM_SERVER = ['PATH', 'LANG', 'TZ'] as const;

/**
 * Host directories sessions share: none may lie inside another (a session could put a link where
 * the inner one is missing and have the next sandbox bind whatever it points at), and each must
 * be its own real path (no link on the way, which a session with write access could redirect).
 */
function checkHostDirs(dirs: string[]): string[] {
  for (const a of dirs) {
    for (const b of dirs) {
      if (a !== b && !relative(a, b).startsWith('..')) {
        throw new ConfigError(
          `backends.bash.host_dirs: "${b}" is inside "${a}"; host directories may not nest`,
        );
      }
    }
  }
  return dirs;
}

/** Where cwd may point, said in the error when it names nothing the session can see. */
const SESSION_VIEW =
  'in the sandbox a session sees its workspace, its private /tmp, /var/tmp, /run, /root and ' +
  '/home, the read-only system directories and backends.bash.host_dirs';

export default defineBackendModule({
  name: 'bash',
  configSchema: bashConfigSchema,
  create(config, env: BackendEnv): Backend<BashHandle> {
    const workspaceRoot = join(env.dataDir, 'workspaces');
    /** The warm pool's workspaces, until each is renamed into workspaceRoot for its session. */
    const poolRoot = join(env.dataDir, 'pool');
    const trash = new Trash(join(env.dataDir, 'trash'));
    trash.empty();
    let shellPath = config.shell;
    const plan: SandboxPlan = {
      isolation: undefined, // decided by warmup; until then no shell starts
      bwrapPath: 'bwrap',
      dataDir: env.dataDir,
      hiddenPaths: env.hiddenPaths,
      hostDirs: checkHostDirs(config.host_dirs.map((d) => resolve(d))),
      limits: { ...config.limits },
    };
    /** Set at warmup when the server runs as root and sandboxes: every session its own uid. */
    let uids: SessionUids | undefined;
    /** Set at warmup when cgroups can be made: every session its memory and process caps. */
    let cgroups: SessionCgroups | undefined;
    /** The seccomp filter, an unlinked file held open (see warmup). */
    let filterFd: number | undefined;
    // Fixed for the server's lifetime: the operator's variables are exported by each shell.
    const operatorEnv = config.env;

    const workspaceOf = (info: SessionInfo) => join(workspaceRoot, info.sessionId);

    /** What a shell process starts with: nothing a worker chose (see ShellOptions.env). */
    const baseEnv = (workspace: string): Record<string, string> => {
      const base: Record<string, string> = { LANG: 'C.UTF-8' };
      for (const name of BASE_ENV_FROM_SERVER) {
        const v = process.env[name];
        if (v !== undefined) base[name] = v;
      }
      base.PATH ??= '/usr/local/bin:/usr/bin:/bin';
      return {
        ...base,
        HOME: workspace,
        USER: 'agent',
        LOGNAME: 'agent',
        TERM: 'dumb',
        PAGER: 'cat',
        GIT_PAGER: 'cat',
        AGENTFLOW_WORKSPACE: workspace,
        // Marks every process of this data directory's sessions, so a later start can reap them.
        AGENTFLOW_INSTANCE: env.instanceId,
      };
    };

    /** The start directory, in the session's view; relative ones are made in the workspace. */
    const startDir = (info: SessionInfo, workspace: string, uid?: number): string => {
      const cwd = info.config.cwd as string | undefined;
      if (cwd === undefined) return workspace;
      if (cwd.includes('\0')) {
        throw new ParameterError('Invalid session config for bash: cwd holds a NUL byte');
      }
      if (isAbsolute(cwd)) return resolve(cwd);
      const dir = resolve(workspace, cwd);
      if (relative(workspace, dir).startsWith('..')) {
        throw new ParameterError(
          `Invalid session config for bash: relative cwd "${cwd}" leaves the workspace`,
        );
      }
      // Beneath the workspace without following links: on a restore the session may have put
      // one where its start directory was.
      makeWorkspaceDirectory(workspace, cwd, uid === undefined ? undefined : { uid, gid: uid });
      return dir;
    };

    /** What the session config asks for, checked before anything is made for it. */
    const settingsOf = (info: SessionInfo) => {
      if (plan.isolation === undefined) {
        // Never a shell before warmup has decided how to sandbox it (the executor warms first).
        throw new WarmupError('The bash backend has not warmed up yet; retry after /warmup.');
      }
      const sessionEnv = (info.config.env ?? {}) as Record<string, string>;
      checkSessionEnv(sessionEnv);
      const network = info.config.network === true;
      if (network && !config.allow_network) {
        throw new ParameterError(
          'Invalid session config for bash: network access is disabled by the server ' +
            '(backends.bash.allow_network)',
        );
      }
      return { exports: { ...operatorEnv, ...sessionEnv }, network };
    };

    /** How a shell is started for a workspace; `key` names its cgroup slot (the session id). */
    const shellOptions = (
      key: string,
      workspace: string,
      cwd: string,
      exports: Record<string, string>,
      network: boolean,
      uid: number | undefined,
      mountAt?: string,
    ): ShellOptions => {
      const seccomp = plan.seccompPath;
      const group = cgroups;
      return {
        shell: shellPath,
        prefix: () =>
          shellPrefix(plan, {
            workspace,
            ...(mountAt === undefined ? {} : { mountAt }),
            network,
            ...(uid === undefined ? {} : { uid }),
            ...(seccomp ? { seccompFd: 3 } : {}),
          }),
        sweepLeftovers: plan.isolation === 'none',
        sessionId: key,
        home: workspace,
        env: baseEnv(mountAt ?? workspace),
        exports,
        cwd,
        outputLimit: config.output_limit_bytes,
        ...(seccomp ? { openStartFd: () => openSync(seccomp, 'r') } : {}),
        ...(group ? { onProcesses: (pids: number[]) => group.join(key, pids) } : {}),
      };
    };

    const sessionCaps = {
      memoryBytes: config.limits.session_memory_mb * 1024 * 1024,
      processes: config.limits.session_processes,
    };

    type Settings = ReturnType<typeof settingsOf>;

    const open = (
      info: SessionInfo,
      restoreIn?: string,
      { exports, network }: Settings = settingsOf(info),
    ): BashHandle => {
      const workspace = workspaceOf(info);
      const fresh = !existsSync(workspace);
      mkdirSync(workspace, { recursive: true, mode: 0o700 });
      let uid: number | undefined;
      try {
        if (uids) {
          const owner = statSync(workspace).uid;
          if (uids.has(owner)) {
            uids.claim(owner);
            uid = owner;
          } else {
            uid = uids.take(uidsInUse);
            // A new workspace is empty; one from a run without session uids is handed over
            // whole (rare).
            if (fresh) chownSync(workspace, uid, uid);
            else Bun.spawnSync(['chown', '-R', '-P', `${uid}:${uid}`, workspace]);
          }
        }
        const cwd = startDir(info, workspace, uid);
        cgroups?.create(info.sessionId, sessionCaps);
        const options = shellOptions(info.sessionId, workspace, cwd, exports, network, uid);
        return {
          shell: new ShellSession(options, restoreIn ?? cwd),
          workspace,
          ...(uid === undefined ? {} : { uid }),
        };
      } catch (err) {
        if (uid !== undefined) uids?.release(uid);
        if (fresh) trash.remove(workspace);
        throw err;
      }
    };

    /** Frees what a pooled shell holds: it never served a session. */
    const discardPooled = (pooled: PooledShell) => {
      pooled.shell.kill();
      if (pooled.uid !== undefined) uids?.release(pooled.uid);
      cgroups?.release(pooled.token);
      trash.remove(pooled.workspace);
    };

    const pool = new ShellPool({
      size: config.pool.size,
      log: env.log,
      discard: discardPooled,
      async start() {
        const token = `pool-${randomBytes(8).toString('hex')}`;
        // On the host beside the workspaces, not among them; inside, among them (see fromPool).
        const workspace = join(poolRoot, token);
        const inside = join(workspaceRoot, token);
        mkdirSync(poolRoot, { recursive: true, mode: 0o700 });
        mkdirSync(workspaceRoot, { recursive: true, mode: 0o700 });
        mkdirSync(workspace, { mode: 0o700 });
        let uid: number | undefined;
        let shell: ShellSession | undefined;
        try {
          if (uids) {
            uid = uids.take(uidsInUse);
            chownSync(workspace, uid, uid);
          }
          cgroups?.create(token, sessionCaps);
          shell = new ShellSession(
            shellOptions(token, workspace, inside, operatorEnv, false, uid, inside),
          );
          await shell.started();
          return { shell, token, workspace, ...(uid === undefined ? {} : { uid }) };
        } catch (err) {
          shell?.kill();
          if (uid !== undefined) uids?.release(uid);
          cgroups?.release(token);
          trash.remove(workspace);
          throw err;
        }
      },
    });

    /** The pool fills once warmup has chosen the sandbox and recover() has reaped. */
    const poolSteps = { warmed: false, recovered: false };
    const poolWanted = (step: keyof typeof poolSteps) => {
      poolSteps[step] = true;
      if (poolSteps.warmed && poolSteps.recovered && plan.isolation === 'bwrap') pool.start();
    };

    /**
     * A new session from the pool, or undefined when none can serve it (pool empty or off, a
     * session with network access: the sandbox decides that at its start). The pooled
     * workspace is renamed to the session's on the host, and inside the sandbox, whose view
     * was fixed at its start, the session's path becomes a link to it (written by the server
     * through /proc/<pid>/root: the directory is the sandbox's own, read-only to the session).
     */
    const fromPool = (
      info: SessionInfo,
      { exports, network }: Settings,
    ): BashHandle | undefined => {
      if (network) return undefined;
      const pooled = pool.take();
      if (!pooled) return undefined;
      const workspace = workspaceOf(info);
      const { uid } = pooled;
      try {
        if (existsSync(workspace)) throw new Error(`${workspace} exists already`);
        const inner = descendantsOf(pooled.shell.pid)[0];
        if (inner === undefined) throw new Error('the pooled sandbox has no process inside');
        renameSync(pooled.workspace, workspace);
        symlinkSync(pooled.token, `/proc/${inner}/root${workspace}`);
        cgroups?.rekey(pooled.token, info.sessionId);
        const cwd = startDir(info, workspace, uid);
        pooled.shell.adopt(
          {
            ...shellOptions(info.sessionId, workspace, cwd, exports, false, uid),
            pathAlias: { real: join(workspaceRoot, pooled.token), shown: workspace },
          },
          // Only a configured cwd needs the shell's word before the session is handed out.
          info.config.cwd !== undefined,
        );
        return {
          shell: pooled.shell,
          workspace,
          ...(uid === undefined ? {} : { uid }),
        };
      } catch (err) {
        // Such a failure is the machine's (a /proc that will not let the server reach into
        // the sandbox, say), not the session's: the pool stops rather than fail every time.
        env.log.warn('bash.pool_handover_failed', {
          session_id: info.sessionId,
          error: String(err),
          pool: 'off until restart; sessions start cold',
        });
        void pool.drain();
        pooled.shell.kill();
        if (uid !== undefined) uids?.release(uid);
        cgroups?.release(pooled.token);
        cgroups?.release(info.sessionId);
        trash.remove(existsSync(pooled.workspace) ? pooled.workspace : workspace);
        return undefined;
      }
    };

    const release = (info: SessionInfo, handle: BashHandle | undefined) => {
      const workspace = workspaceOf(info);
      const uid = handle?.uid ?? statSync(workspace, { throwIfNoEntry: false })?.uid;
      if (uid !== undefined) uids?.release(uid);
      cgroups?.release(info.sessionId);
      trash.remove(workspace);
    };

    /** A session is handed out only once its shell (and sandbox) has really started. */
    const started = async (handle: BashHandle, info: SessionInfo, fresh: boolean) => {
      try {
        await handle.shell.started();
        const wanted = info.config.cwd as string | undefined;
        if (
          fresh &&
          wanted !== undefined &&
          handle.shell.cwd !== resolve(handle.workspace, wanted)
        ) {
          throw new ParameterError(
            `Invalid session config for bash: cwd "${wanted}" is not a directory the session ` +
              `can enter (${plan.isolation === 'bwrap' ? SESSION_VIEW : 'it does not exist'})`,
          );
        }
        return handle;
      } catch (err) {
        handle.shell.kill();
        if (fresh) release(info, handle);
        throw err;
      }
    };

    return {
      name: 'bash',
      description: 'A persistent bash shell per session, in its own workspace directory.',
      sessionConfig,

      async warmup(ctx) {
        const input: ProbeInput = {
          shell: config.shell,
          workspaceRoot,
          isolation: config.isolation,
          wantLimits: Object.keys(config.limits).length > 0,
          probeUid: config.session_uids.first,
        };
        const probe = await ctx.runInWorker<ProbeResult>(
          workerUrl('backends/bash/probe-worker.ts'),
          input,
        );
        shellPath = probe.shellPath;
        plan.bwrapPath = probe.bwrapPath;
        if (probe.prlimitPath) plan.prlimitPath = probe.prlimitPath;
        if (probe.setprivPath) plan.setprivPath = probe.setprivPath;
        if (probe.isolation === 'bwrap') {
          const filter = sessionFilter();
          if (filter) {
            // Kept as an open, unlinked file: nothing on disk a session could ever reach and
            // rewrite; each start reopens it through /proc (its own read offset).
            const path = join(env.dataDir, `.seccomp-${process.pid}`);
            writeFileSync(path, filter, { mode: 0o600 });
            filterFd = openSync(path, 'r');
            unlinkSync(path);
            plan.seccompPath = `/proc/self/fd/${filterFd}`;
          }
          if (probe.dropToSessionUid) {
            uids = new SessionUids(
              config.session_uids.first,
              config.session_uids.count,
              join(env.dataDir, 'session-uids.next'),
            );
            plan.limits.processes ??= 512;
            for (const name of existsSync(workspaceRoot) ? readdirSync(workspaceRoot) : []) {
              uids.claim(statSync(join(workspaceRoot, name)).uid);
            }
            const opened = SessionCgroups.open(env.instanceId);
            if (typeof opened === 'string') {
              env.log.warn('bash.warning', {
                warning:
                  `per-session memory and process caps (limits.session_memory_mb, ` +
                  `session_processes) are NOT enforced: ${opened}`,
              });
            } else {
              cgroups = opened;
            }
          }
        }
        plan.isolation = probe.isolation;
        for (const warning of probe.warnings) env.log.warn('bash.warning', { warning });
        // Only sandboxed shells are worth pooling (a plain one starts in a millisecond), and
        // the pool starts after recover() has reaped what an earlier run left.
        const pooled = probe.isolation === 'bwrap' && pool.size > 0;
        if (pooled) poolWanted('warmed');
        ctx.progress({
          fraction: 1,
          detail: `isolation: ${probe.isolation}${pooled ? `, warm pool: ${pool.size} shells` : ''}`,
        });
        env.log.info('bash.ready', {
          shell: probe.shellPath,
          version: probe.version,
          isolation: probe.isolation,
          session_uids: uids ? `${uids.first}-${uids.first + uids.count - 1}` : 'server user',
        });
      },

      async recover(sessions) {
        // Shells of the previous server process are orphans now; their sessions respawn on use.
        // (Reaped before the pool starts: the pool's shells carry the same mark.)
        const orphans = processesWithEnv('AGENTFLOW_INSTANCE', env.instanceId);
        killAll(orphans);
        if (orphans.length > 0) env.log.info('bash.reaped', { processes: orphans.length });
        // The warm pool of an earlier run: its shells were just reaped, its workspaces go.
        if (existsSync(poolRoot)) {
          for (const name of readdirSync(poolRoot)) trash.remove(join(poolRoot, name));
        }
        const keep = new Set(sessions.map((s) => s.sessionId));
        if (existsSync(workspaceRoot)) {
          for (const name of readdirSync(workspaceRoot)) {
            if (!keep.has(name)) trash.remove(join(workspaceRoot, name));
          }
        }
        poolWanted('recovered');
        return new Map(sessions.map((s) => [s.sessionId, 'restored']));
      },

      async createSession(info) {
        const settings = settingsOf(info);
        return started(fromPool(info, settings) ?? open(info, undefined, settings), info, true);
      },

      async restoreSession(info) {
        return started(open(info, info.state.cwd as string | undefined), info, false);
      },

      async destroySession(info, handle) {
        handle?.shell.kill();
        release(info, handle);
      },

      async close() {
        await pool.drain();
        await cgroups?.close();
        if (filterFd !== undefined) closeSync(filterFd);
      },

      async detachSession(_info, handle) {
        handle.shell.kill();
        if (handle.uid !== undefined) uids?.release(handle.uid);
      },

      // A directory named by its real path inside (`cd "$(pwd -P)"`) is kept under the
      // session's own name, the one a restored shell finds.
      gauges: (): Record<string, number> =>
        pool.size > 0 && plan.isolation === 'bwrap'
          ? {
              pool_size: pool.size,
              pool_ready: pool.available,
              pool_hits: pool.hits,
              pool_misses: pool.misses,
            }
          : {},

      sessionState: (handle) => ({ cwd: handle.shell.cwd }),

      tools: [
        defineTool({
          name: 'run',
          description:
            'Run a command in the session shell. State (cwd, exported variables, functions) ' +
            'persists between calls. On timeout the command and all its children are killed.',
          params: t.Object(
            {
              command: t.String({ minLength: 1, maxLength: 1024 * 1024, description: 'Bash code' }),
              timeout: t.Optional(
                t.Number({ exclusiveMinimum: 0, maximum: 86400, description: 'Seconds' }),
              ),
            },
            { additionalProperties: false },
          ),
          returns: runResult,
          async run(
            { command, timeout },
            ctx: { session: BashHandle; timeoutMs: number; signal: AbortSignal },
          ) {
            if (command.includes('\0'))
              throw new ParameterError('command must not contain NUL bytes');
            const limit = Math.min(
              ctx.timeoutMs,
              timeout === undefined ? Infinity : timeout * 1000,
            );
            const run = await ctx.session.shell.run(command, limit, ctx.signal);
            const result = { ...run, return_code: run.exit_code };
            if (result.timed_out) {
              throw new ExecutionTimeoutError(
                `Command timed out after ${limit / 1000}s; it was killed, with every process it ` +
                  'started (see the README for what a session without a sandbox can leave).',
                result,
              );
            }
            return result;
          },
        }),
        defineTool({
          name: 'read_file',
          description: 'Read a file of the session workspace (path relative to the workspace).',
          params: t.Object(
            {
              path: t.String({ minLength: 1, maxLength: 4096 }),
              encoding,
            },
            { additionalProperties: false },
          ),
          // The validator fills defaults; the destructuring defaults only satisfy the static type.
          async run({ path, encoding = 'utf8' }, ctx: { session: BashHandle }) {
            return readWorkspaceFile(ctx.session.workspace, path, encoding, config.max_file_bytes);
          },
        }),
        defineTool({
          name: 'write_file',
          description:
            'Write a file in the session workspace (path relative to the workspace); parent ' +
            'directories are created.',
          params: t.Object(
            {
              path: t.String({ minLength: 1, maxLength: 4096 }),
              content: t.String(),
              encoding,
              append: t.Optional(t.Boolean({ default: false })),
            },
            { additionalProperties: false },
          ),
          async run(
            { path, content, encoding = 'utf8', append = false },
            ctx: { session: BashHandle },
          ) {
            const { workspace, uid } = ctx.session;
            return writeWorkspaceFile(workspace, path, content, encoding, {
              append,
              maxBytes: config.limits.file_size_mb * 1024 * 1024,
              // What the server writes for a session with its own uid belongs to the session.
              ...(uid === undefined ? {} : { owner: { uid, gid: uid } }),
            });
          },
        }),
      ],
    };
  },
});
