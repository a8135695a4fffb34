// Which variables a session config may set. They only ever reach the shell inside the sandbox
// (it exports them itself), yet names that change how programs load or how the shell behaves
// are refused outright: they have no business in a worker's config, and refusing them keeps a
// future change in how the shell starts from turning them into code run on the host.
import { ParameterError } from '../../core/errors.ts';

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Exact names: the shell's start-up and parsing, the dynamic loader's relatives in libc. */
const REFUSED = new Set([
  'BASH_ENV',
  'ENV',
  'PROMPT_COMMAND',
  'SHELLOPTS',
  'BASHOPTS',
  'IFS',
  'PS4',
  'BASH_XTRACEFD',
  'POSIXLY_CORRECT',
  'GLIBC_TUNABLES',
  'GCONV_PATH',
  'HOSTALIASES',
  'NLSPATH',
]);
/** Prefixes: the dynamic loader (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT …), our own marks. */
const REFUSED_PREFIXES = ['LD_', 'AGENTFLOW_', 'BASH_FUNC_'];

function refusal(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return 'is not a valid variable name';
  const upper = name.toUpperCase();
  if (REFUSED.has(upper) || REFUSED_PREFIXES.some((p) => upper.startsWith(p))) {
    return 'changes how programs load or how the shell behaves, and may not be set by a session';
  }
  return undefined;
}

/** All of a session's variables together: the shell is handed them in one line it reads. */
export const MAX_ENV_BYTES = 256 * 1024;

/** Throws 1002 naming the first variable a session may not set, or saying the env is too big. */
export function checkSessionEnv(env: Record<string, string>): void {
  let size = 0;
  for (const [name, value] of Object.entries(env)) size += name.length + value.length + 2;
  if (size > MAX_ENV_BYTES) {
    throw new ParameterError(
      `Invalid session config for bash: env holds ${size} characters in all, above the ` +
        `${MAX_ENV_BYTES} allowed; pass large data as a file (bash:write_file) instead`,
    );
  }
  for (const [name, value] of Object.entries(env)) {
    const why = refusal(name);
    if (why) throw new ParameterError(`Invalid session config for bash: env "${name}" ${why}`);
    if (value.includes('\0')) {
      throw new ParameterError(
        `Invalid session config for bash: env "${name}" holds a NUL byte, which no variable can`,
      );
    }
  }
}
