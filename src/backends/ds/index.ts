// The ds backend: upstream's data-science tools (inspect_data, read_csv, run_python) on a task's
// seed folder of CSV files, run by a persistent sandboxed interpreter per session (python's), with
// the seed folder bound read-only into the sandbox and nothing else of the host added.
import { Type as t } from '@sinclair/typebox';
import { realpathSync, statSync } from 'node:fs';
import { assertSettled } from '../settled-folder.ts';
import { dirname, relative, resolve } from 'node:path';
import type { Backend, BackendEnv } from '../backend.ts';
import { defineBackendModule, defineTool } from '../backend.ts';
import { BackendError, ParameterError } from '../../core/errors.ts';
import { callLimit, codeParam } from '../python/index.ts';
import TOOLS_SOURCE from './ds_tools.py' with { type: 'text' };
import PRELUDE from './prelude.py' with { type: 'text' };
import { pythonSettings, PythonSessions, runCell, type PythonHandle } from '../python/sessions.ts';

export const dsConfigSchema = t.Object(
  {
    ...pythonSettings(400_000),
    seed_dirs: t.Array(t.String({ minLength: 1 }), {
      default: ['.'],
      description:
        'Directories a seed_path may lie in (relative ones from the server’s working ' +
        'directory, as upstream resolves seed paths); never one holding the data directory',
    }),
    ds_max_csv: t.Integer({
      default: 100,
      minimum: 1,
      description: 'CSV files inspect_data reads',
    }),
    ds_summary_max_chars: t.Integer({
      default: 12000,
      minimum: 100,
      description: 'Longest inspect_data summary',
    }),
  },
  { additionalProperties: false, default: {} },
);

interface DsHandle extends PythonHandle {
  /** The seed folder the interpreter has bound now. */
  seed?: string;
}

/** A JSON string is a valid Python string literal. */
const py = (value: string | number) => JSON.stringify(value);

const seedParam = t.Optional(
  t.String({
    minLength: 1,
    maxLength: 4096,
    description: 'The task’s folder of CSV files (upstream’s runner injects it)',
  }),
);

/**
 * The seed folder bound read-only at its own path. bwrap makes missing parents 0700, which the
 * session's uid could not cross: each is made (or kept) 0755 first.
 */
function seedMounts(seed: string): string[] {
  const args: string[] = [];
  for (let dir = dirname(seed); dir !== '/'; dir = dirname(dir)) {
    args.unshift('--perms', '0755', '--dir', dir);
  }
  return [...args, '--ro-bind', seed, seed];
}

const isInside = (dir: string, path: string) => !relative(dir, path).startsWith('..');

export default defineBackendModule({
  name: 'ds',
  configSchema: dsConfigSchema,
  create(config, env: BackendEnv): Backend<DsHandle> {
    const sessions = new PythonSessions('ds', config, env);
    const roots = () =>
      config.seed_dirs.flatMap((d) => {
        try {
          return [realpathSync(resolve(d))];
        } catch {
          return [];
        }
      });
    const guarded = [env.dataDir, ...env.hiddenPaths].map((p) => {
      try {
        return realpathSync(p);
      } catch {
        return resolve(p);
      }
    });

    /** The seed folder's real path, once it is known to be one the operator allows. */
    const seedFolder = (given: string | undefined): string => {
      if (given === undefined) {
        throw new ParameterError(
          'ds tools need seed_path, the task’s folder of CSV files: pass it in params (upstream’s ' +
            'runner merges the task’s kwargs) or in the ds session config',
        );
      }
      let real: string;
      try {
        real = realpathSync(resolve(given));
      } catch {
        throw new ParameterError(`seed_path "${given}" does not exist on the server`);
      }
      if (!statSync(real, { throwIfNoEntry: false })?.isDirectory()) {
        throw new ParameterError(`seed_path "${given}" is not a directory`);
      }
      if (!roots().some((root) => isInside(root, real))) {
        throw new ParameterError(
          `seed_path "${given}" is outside the seed directories the server allows ` +
            '(backends.ds.seed_dirs)',
        );
      }
      if (guarded.some((p) => isInside(real, p) || isInside(p, real))) {
        throw new ParameterError(
          `seed_path "${given}" holds or lies in the server’s data directory or config; ` +
            'choose a folder of CSV files',
        );
      }
      assertSettled(real, 'seed_path', env.sessionWritable);
      return real;
    };

    /** Binds the seed folder into the interpreter; another seed means a fresh interpreter. */
    const useSeed = async (handle: DsHandle, seed: string, timeoutMs: number) => {
      if (handle.seed === seed && handle.interpreter.alive) return false;
      if (handle.seed !== seed) handle.interpreter.reset();
      handle.mounts = sessions.sandbox.isolation === 'bwrap' ? seedMounts(seed) : [];
      handle.seed = seed;
      const reply = await runCell(
        handle,
        { code: `SEED_DIR = ${py(seed)}\n${PRELUDE}` },
        timeoutMs,
      );
      if (reply.error) {
        const unreadable =
          reply.error.name === 'PermissionError' && handle.sandbox.uid !== undefined;
        throw new BackendError(
          `The ds session could not open its seed folder: ${reply.error.value}` +
            (unreadable
              ? '. Sessions run as their own unprivileged uid and read a seed folder as any ' +
                'user would: chmod o+rx the folder (and o+r its files).'
              : ''),
        );
      }
      return reply.restarted;
    };

    /** One of ds_tools.py's functions, in a scratch namespace; its printout is the answer. */
    const helper = async (
      handle: DsHandle,
      call: string,
      timeoutMs: number,
    ): Promise<{ result: string }> => {
      const reply = await runCell(
        handle,
        { code: `${TOOLS_SOURCE}\n${call}`, scratch: true },
        timeoutMs,
      );
      if (reply.error) throw new BackendError(`${reply.error.name}: ${reply.error.value}`);
      return { result: reply.stdout.trimEnd() };
    };

    type Ctx = {
      session: DsHandle;
      timeoutMs: number;
      sessionConfig: Record<string, unknown> | null;
    };
    const prepare = async (ctx: Ctx, given: string | undefined) => {
      const seed = seedFolder(given ?? (ctx.sessionConfig?.seed_path as string | undefined));
      const restarted = await useSeed(ctx.session, seed, ctx.timeoutMs);
      return { seed, restarted };
    };

    return {
      name: 'ds',
      description:
        'Upstream’s data-science tools on a task’s seed folder of CSV files, in a persistent ' +
        'sandboxed Python interpreter per session.',
      sessionConfig: t.Object({ seed_path: seedParam }, { additionalProperties: false }),
      ...sessions.lifecycle(),
      tools: [
        defineTool({
          name: 'inspect_data',
          description:
            'List the CSV files of the seed folder with a summary of each (rows, columns, ' +
            'missing values, duplicates). Use it first. seed_path is injected automatically.',
          params: t.Object({ seed_path: seedParam }, { additionalProperties: false }),
          async run({ seed_path }, ctx: Ctx) {
            const { seed } = await prepare(ctx, seed_path);
            const call = `inspect_data(${py(seed)}, ${config.ds_max_csv}, ${config.ds_summary_max_chars})`;
            return helper(ctx.session, call, ctx.timeoutMs);
          },
        }),
        defineTool({
          name: 'read_csv',
          description:
            'The first rows of one CSV file of the seed folder, as CSV text. Give the file name ' +
            'only (seed_path is injected automatically).',
          params: t.Object(
            {
              csv_file: t.String({ minLength: 1, maxLength: 4096, description: 'e.g. data.csv' }),
              max_rows: t.Integer({ default: 50, minimum: 1, maximum: 100_000 }),
              seed_path: seedParam,
            },
            { additionalProperties: false },
          ),
          async run({ csv_file, max_rows = 50, seed_path }, ctx: Ctx) {
            const { seed } = await prepare(ctx, seed_path);
            return helper(
              ctx.session,
              `read_csv(${py(seed)}, ${py(csv_file)}, ${max_rows})`,
              ctx.timeoutMs,
            );
          },
        }),
        defineTool({
          name: 'run_python',
          description:
            'Run Python code for data analysis in the session interpreter (state persists). The ' +
            'working directory is the seed folder (read-only; save into ~, or with save_file); ' +
            'pd, np, plt and load_csv are ready. Figures left open come back as PNG.',
          params: t.Object(
            {
              code: codeParam,
              return_vars: t.Optional(
                t.Array(t.String({ minLength: 1, maxLength: 256 }), {
                  maxItems: 100,
                  description: 'Variables to show after the run (DataFrames: shape and head)',
                }),
              ),
              seed_path: seedParam,
              timeout: t.Optional(t.Number({ exclusiveMinimum: 0, maximum: 86400 })),
            },
            { additionalProperties: false },
          ),
          async run({ code, return_vars, seed_path, timeout }, ctx: Ctx) {
            if (code.includes('\0')) throw new ParameterError('code must not contain NUL bytes');
            const started = performance.now();
            const { restarted } = await prepare(ctx, seed_path);
            // Opening the seed folder came out of the call's time.
            const limit = Math.max(
              1,
              callLimit(ctx.timeoutMs, timeout) - (performance.now() - started),
            );
            const cell = await runCell(
              ctx.session,
              { code, ...(return_vars ? { vars: return_vars } : {}) },
              limit,
            );
            const parts: string[] = [];
            if (cell.error) parts.push(`Error:\n${cell.error.traceback.trimEnd()}`);
            const out = (cell.stdout + cell.stderr).trim();
            if (out) parts.push(`Output:\n${out}`);
            if (cell.result !== null) parts.push(`Result:\n${cell.result}`);
            const vars = Object.entries(cell.vars ?? {});
            if (vars.length > 0) {
              parts.push(`Variables:\n${vars.map(([n, v]) => `${n} = ${v}`).join('\n')}`);
            }
            if (cell.images.length > 0) parts.push(`[${cell.images.length} figure(s) returned]`);
            if (parts.length === 0) parts.push('Ran without output.');
            return {
              result: parts.join('\n\n'),
              images: cell.images.map((b64) => ({ type: 'image/png', base64: b64 })),
              stdout: cell.stdout,
              stderr: cell.stderr,
              error: cell.error,
              vars: cell.vars ?? {},
              restarted: restarted || cell.restarted,
            };
          },
        }),
      ],
    };
  },
});
