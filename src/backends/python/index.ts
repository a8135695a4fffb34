// The python backend: one persistent Python interpreter per session, inside the bash sandbox,
// where variables, imports and loaded data persist between calls (a code interpreter).
import { Type as t } from '@sinclair/typebox';
import type { Backend, BackendEnv } from '../backend.ts';
import { defineBackendModule, defineTool } from '../backend.ts';
import { ParameterError } from '../../core/errors.ts';
import {
  cellResult,
  pythonSettings,
  PythonSessions,
  runCell,
  type PythonHandle,
} from './sessions.ts';

export const pythonConfigSchema = t.Object(pythonSettings(300_000), {
  additionalProperties: false,
  default: {},
});

export const codeParam = t.String({
  minLength: 1,
  maxLength: 1024 * 1024,
  description: 'Python code; the value of a last expression comes back as `result` (its repr)',
});

/** The call's time: the executor's deadline, or the tool's own `timeout` when shorter. */
export function callLimit(timeoutMs: number, timeout: number | undefined): number {
  return Math.min(timeoutMs, timeout === undefined ? Infinity : timeout * 1000);
}

export default defineBackendModule({
  name: 'python',
  configSchema: pythonConfigSchema,
  create(config, env: BackendEnv): Backend<PythonHandle> {
    const sessions = new PythonSessions('python', config, env);
    return {
      name: 'python',
      description:
        'A persistent Python interpreter per session, sandboxed like bash sessions; ' +
        'matplotlib figures come back as PNG.',
      sessionConfig: t.Object({}, { additionalProperties: false }),
      ...sessions.lifecycle(),
      tools: [
        defineTool({
          name: 'run',
          description:
            'Run Python code in the session interpreter. Variables, imports and loaded data ' +
            'persist between calls. Returns stdout, stderr, the repr of the last expression, the ' +
            'error (name, value, traceback) and the matplotlib figures left open, as PNG.',
          params: t.Object(
            {
              code: codeParam,
              timeout: t.Optional(
                t.Number({ exclusiveMinimum: 0, maximum: 86400, description: 'Seconds' }),
              ),
            },
            { additionalProperties: false },
          ),
          returns: cellResult,
          async run({ code, timeout }, ctx: { session: PythonHandle; timeoutMs: number }) {
            if (code.includes('\0')) throw new ParameterError('code must not contain NUL bytes');
            const { vars: _, ...result } = await runCell(
              ctx.session,
              { code },
              callLimit(ctx.timeoutMs, timeout),
            );
            return result;
          },
        }),
      ],
    };
  },
});
