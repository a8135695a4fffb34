// The bash backend: a persistent shell per session in its own workspace directory (SPEC §6).
import { Type as t } from '@sinclair/typebox';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Backend, BackendEnv, SessionInfo } from '../backend.ts';
import { defineBackendModule, defineTool } from '../backend.ts';
import { ExecutionTimeoutError, ParameterError } from '../../core/errors.ts';
import { workerUrl } from '../../core/workers.ts';
import { readWorkspaceFile, writeWorkspaceFile } from './files.ts';
import type { ProbeInput, ProbeResult } from './probe-worker.ts';
import { killAll, processesWithEnv } from './processes.ts';
import { shellPrefix, type SandboxPlan } from './sandbox.ts';
import { ShellSession } from './shell.ts';

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
    limits: t.Object(
      {
        cpu_seconds: t.Optional(t.Integer({ minimum: 1, description: 'CPU seconds per process' })),
        memory_mb: t.Optional(t.Integer({ minimum: 16, description: 'Address space per process' })),
        file_size_mb: t.Integer({ default: 1024, minimum: 1, description: 'Largest file written' }),
        open_files: t.Integer({ default: 1024, minimum: 16 }),
        processes: t.Optional(
          t.Integer({ minimum: 1, description: 'Processes of the user (not enforced for root)' }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const sessionConfig = t.Object(
  {
    cwd: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 4096,
        description: 'Start directory; relative paths are inside the workspace',
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
  timed_out: t.Boolean(),
  truncated: t.Boolean(),
  cwd: t.String(),
  duration_ms: t.Number(),
});

const encoding = t.Optional(t.Union([t.Literal('utf8'), t.Literal('base64')], { default: 'utf8' }));

interface BashHandle {
  shell: ShellSession;
  workspace: string;
}

/** Variables of the server (keys, config) never reach a session: the shell gets a fresh env. */
const BASE_ENV_FROM_SERVER = ['PATH', 'LANG', 'TZ'] as const;

export default defineBackendModule({
  name: 'bash',
  configSchema: bashConfigSchema,
  create(config, env: BackendEnv): Backend<BashHandle> {
    const workspaceRoot = join(env.dataDir, 'workspaces');
    let shellPath = config.shell;
    const plan: SandboxPlan = {
      isolation: 'none', // decided by warmup, which runs before any session starts
      bwrapPath: 'bwrap',
      dataDir: env.dataDir,
      hiddenPaths: env.hiddenPaths,
      hostDirs: config.host_dirs.map((d) => resolve(d)),
      limits: config.limits,
    };
    const insideAny = (dir: string, roots: readonly string[]) =>
      roots.some((r) => !relative(r, dir).startsWith('..'));

    const workspaceOf = (info: SessionInfo) => join(workspaceRoot, info.sessionId);

    const shellEnv = (info: SessionInfo, workspace: string): Record<string, string> => {
      const base: Record<string, string> = { LANG: 'C.UTF-8' };
      for (const name of BASE_ENV_FROM_SERVER) {
        const v = process.env[name];
        if (v !== undefined) base[name] = v;
      }
      base.PATH ??= '/usr/local/bin:/usr/bin:/bin';
      const sessionEnv = (info.config.env ?? {}) as Record<string, string>;
      for (const name of Object.keys(sessionEnv)) {
        if (!ENV_NAME.test(name)) {
          throw new ParameterError(
            `Invalid session config for bash: env name "${name}" is not a valid variable name`,
          );
        }
      }
      return {
        ...base,
        HOME: workspace,
        TERM: 'dumb',
        PAGER: 'cat',
        GIT_PAGER: 'cat',
        ...config.env,
        ...sessionEnv,
        AGENTFLOW_WORKSPACE: workspace,
        // Marks every process of this data directory's sessions, so a later start can reap them.
        AGENTFLOW_INSTANCE: env.instanceId,
      };
    };

    const startDir = (info: SessionInfo, workspace: string): string => {
      const cwd = info.config.cwd as string | undefined;
      if (cwd === undefined) return workspace;
      const dir = isAbsolute(cwd) ? cwd : resolve(workspace, cwd);
      if (!isAbsolute(cwd)) {
        if (relative(workspace, dir).startsWith('..')) {
          throw new ParameterError(
            `Invalid session config for bash: relative cwd "${cwd}" leaves the workspace`,
          );
        }
        mkdirSync(dir, { recursive: true });
      }
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw new ParameterError(
          `Invalid session config for bash: cwd "${cwd}" is not a directory`,
        );
      }
      if (plan.isolation === 'bwrap' && !insideAny(dir, [workspace, ...plan.hostDirs])) {
        throw new ParameterError(
          `Invalid session config for bash: cwd "${cwd}" is outside the session workspace; ` +
            'sandboxed sessions may only start in their workspace or in backends.bash.host_dirs',
        );
      }
      return dir;
    };

    const open = (info: SessionInfo, restoreIn?: string): BashHandle => {
      const workspace = workspaceOf(info);
      const vars = shellEnv(info, workspace);
      mkdirSync(workspace, { recursive: true });
      try {
        const cwd = startDir(info, workspace);
        const network = info.config.network === true;
        if (network && !config.allow_network) {
          throw new ParameterError(
            'Invalid session config for bash: network access is disabled by the server ' +
              '(backends.bash.allow_network)',
          );
        }
        const options = {
          shell: shellPath,
          prefix: (dir: string) => shellPrefix(plan, workspace, dir, network),
          sweepLeftovers: plan.isolation === 'none',
          sessionId: info.sessionId,
          cwd,
          env: vars,
          outputLimit: config.output_limit_bytes,
        };
        return { shell: new ShellSession(options, restoreIn ?? cwd), workspace };
      } catch (err) {
        if (!restoreIn) rmSync(workspace, { recursive: true, force: true });
        throw err;
      }
    };

    /** A session is handed out only once its shell (and sandbox) has really started. */
    const started = async (handle: BashHandle, info: SessionInfo, fresh: boolean) => {
      try {
        await handle.shell.started();
        return handle;
      } catch (err) {
        handle.shell.kill();
        if (fresh) rmSync(workspaceOf(info), { recursive: true, force: true });
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
        };
        const probe = await ctx.runInWorker<ProbeResult>(
          workerUrl('backends/bash/probe-worker.ts'),
          input,
        );
        shellPath = probe.shellPath;
        plan.isolation = probe.isolation;
        plan.bwrapPath = probe.bwrapPath;
        if (probe.prlimitPath) plan.prlimitPath = probe.prlimitPath;
        for (const warning of probe.warnings) env.log.warn('bash.warning', { warning });
        ctx.progress({ fraction: 1, detail: `isolation: ${probe.isolation}` });
        env.log.info('bash.ready', {
          shell: probe.shellPath,
          version: probe.version,
          isolation: probe.isolation,
        });
      },

      async recover(sessions) {
        // Shells of the previous server process are orphans now; their sessions respawn on use.
        const orphans = processesWithEnv('AGENTFLOW_INSTANCE', env.instanceId);
        killAll(orphans);
        if (orphans.length > 0) env.log.info('bash.reaped', { processes: orphans.length });
        const keep = new Set(sessions.map((s) => s.sessionId));
        if (existsSync(workspaceRoot)) {
          for (const name of readdirSync(workspaceRoot)) {
            if (!keep.has(name))
              rmSync(join(workspaceRoot, name), { recursive: true, force: true });
          }
        }
        return new Map(sessions.map((s) => [s.sessionId, 'restored']));
      },

      async createSession(info) {
        return started(open(info), info, true);
      },

      async restoreSession(info) {
        return started(open(info, info.state.cwd as string | undefined), info, false);
      },

      async destroySession(info, handle) {
        handle?.shell.kill();
        rmSync(workspaceOf(info), { recursive: true, force: true });
      },

      async detachSession(_info, handle) {
        handle.shell.kill();
      },

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
          async run({ command, timeout }, ctx: { session: BashHandle; timeoutMs: number }) {
            if (command.includes('\0'))
              throw new ParameterError('command must not contain NUL bytes');
            const limit = Math.min(
              ctx.timeoutMs,
              timeout === undefined ? Infinity : timeout * 1000,
            );
            const result = await ctx.session.shell.run(command, limit);
            if (result.timed_out) {
              throw new ExecutionTimeoutError(
                `Command timed out after ${limit / 1000}s; it was killed with all its children.`,
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
            return writeWorkspaceFile(ctx.session.workspace, path, content, encoding, {
              append,
              maxBytes: config.limits.file_size_mb * 1024 * 1024,
            });
          },
        }),
      ],
    };
  },
});
