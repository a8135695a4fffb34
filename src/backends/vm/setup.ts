// Upstream's session config, read here: OSWorld-style `setup` steps run inside the desktop at
// session create through the desktop's shell (the path vm:exec takes), and the other upstream keys
// mapped to what they mean on this server or logged once as ignored.
import { BackendError, ExecutionTimeoutError, ParameterError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { UPSTREAM_IGNORED } from './config.ts';
import type { Desktop } from './desktop.ts';
import type { DriverName } from './drivers/driver.ts';

export interface SetupStep {
  type: string;
  parameters?: Record<string, unknown>;
}

/** Upstream's config keys a vm session config carries, with the ones that mean something here. */
export interface UpstreamConfig {
  setup?: SetupStep[];
  os_type?: string;
  provider?: string;
  headless?: boolean;
  client_password?: string;
  [key: string]: unknown;
}

/** Longest one step may run (upstream's in-VM server gives its commands about as long). */
const STEP_TIMEOUT_MS = 120_000;
/** How often an `execute` step with `until` is tried again (upstream: 0.3 s). */
const UNTIL_RETRY_MS = 300;

const SUPPORTED = ['launch', 'execute', 'command', 'sleep', 'open', 'activate_window'];

/** Single-quotes a word for sh. */
export const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** xdotool matches window names as regular expressions: match this text literally. */
const regexQuote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The driver upstream's `provider` names (docker; qemu for ours), else undefined. */
export function driverOfProvider(provider: string | undefined): DriverName | undefined {
  const p = provider?.trim().toLowerCase();
  return p === 'docker' || p === 'qemu' ? p : undefined;
}

/**
 * Checks the upstream keys that can be wrong here (1002), and logs once per server each one that
 * is ignored. `warned` remembers what was logged.
 */
export function checkUpstreamConfig(c: UpstreamConfig, log: Logger, warned: Set<string>): void {
  if (c.os_type !== undefined && !/^(ubuntu|linux|debian)$/i.test(c.os_type.trim())) {
    throw new ParameterError(
      `os_type: "${c.os_type}" cannot be had here: this server's desktops run Linux ` +
        '(Debian); use "Ubuntu" or leave it out.',
    );
  }
  const warn = (key: string, why: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn('vm.config_ignored', { key, why });
  };
  if (c.provider !== undefined && !driverOfProvider(c.provider)) {
    warn(
      'provider',
      `provider "${c.provider}" is not a driver here (docker, qemu); using the default`,
    );
  }
  if (c.headless === false) warn('headless', 'desktops are always headless here (Xvfb or QEMU)');
  for (const key of UPSTREAM_IGNORED) {
    if (c[key] !== undefined && c[key] !== null) {
      warn(key, 'it configures upstream’s VM pool, providers, in-VM server or recording');
    }
  }
  for (const [i, step] of (c.setup ?? []).entries()) checkStep(step, i);
}

const param = (step: SetupStep, i: number, name: string) => step.parameters?.[name];

function bad(i: number, step: SetupStep, what: string): never {
  throw new ParameterError(`setup[${i}] (${step.type}): ${what}`);
}

/** A command as upstream's steps give it: a list of words, or one string (split unless shell). */
function commandOf(step: SetupStep, i: number): string {
  const command = param(step, i, 'command');
  const shell = param(step, i, 'shell') === true;
  if (typeof command === 'string' && command.trim() !== '') {
    return shell ? command : command.trim().split(/\s+/).map(shellQuote).join(' ');
  }
  if (Array.isArray(command) && command.length > 0 && command.every((w) => typeof w === 'string')) {
    return shell ? command.join(' ') : command.map(shellQuote).join(' ');
  }
  bad(i, step, 'command must be a non-empty string or list of strings');
}

function checkStep(step: SetupStep, i: number): void {
  switch (step.type) {
    case 'launch':
    case 'execute':
    case 'command':
      commandOf(step, i);
      if (step.type !== 'launch') {
        const until = param(step, i, 'until');
        if (until !== undefined && (typeof until !== 'object' || until === null)) {
          bad(i, step, 'until must be an object ({returncode?, stdout?, stderr?})');
        }
      }
      return;
    case 'sleep': {
      const s = param(step, i, 'seconds');
      if (typeof s !== 'number' || !(s >= 0) || s * 1000 > STEP_TIMEOUT_MS) {
        bad(i, step, `seconds must be a number 0..${STEP_TIMEOUT_MS / 1000}`);
      }
      return;
    }
    case 'open':
      if (typeof param(step, i, 'path') !== 'string' || param(step, i, 'path') === '') {
        bad(i, step, 'path must be a non-empty string');
      }
      return;
    case 'activate_window':
      if (
        typeof param(step, i, 'window_name') !== 'string' ||
        param(step, i, 'window_name') === ''
      ) {
        bad(i, step, 'window_name must be a non-empty string');
      }
      return;
    default:
      bad(
        i,
        step,
        `this step type is not supported here; supported: ${SUPPORTED.join(', ')} ` +
          '(steps that need the network or upstream’s in-VM server, e.g. download, ' +
          'chrome_open_tabs, are not)',
      );
  }
}

export interface SetupContext {
  desktop: Desktop;
  width: number;
  height: number;
  clientPassword: string;
  log: Logger;
  sessionId: string;
}

/** Upstream's placeholders in `execute` commands. */
function placeholders(command: string, ctx: SetupContext): string {
  return command
    .replaceAll('{CLIENT_PASSWORD}', ctx.clientPassword)
    .replaceAll('{SCREEN_WIDTH_HALF}', String(Math.floor(ctx.width / 2)))
    .replaceAll('{SCREEN_HEIGHT_HALF}', String(Math.floor(ctx.height / 2)))
    .replaceAll('{SCREEN_WIDTH}', String(ctx.width))
    .replaceAll('{SCREEN_HEIGHT}', String(ctx.height));
}

async function run(ctx: SetupContext, i: number, step: SetupStep, command: string) {
  const r = await ctx.desktop.exec(command, STEP_TIMEOUT_MS);
  if (r.timed_out) {
    throw new ExecutionTimeoutError(
      `setup[${i}] (${step.type}) did not finish within ${STEP_TIMEOUT_MS / 1000}s and was killed.`,
    );
  }
  return r;
}

/** Starts `command` in the background, detached from the exec (it outlives it). */
const background = (command: string) =>
  `nohup sh -c ${shellQuote(command)} >/dev/null 2>&1 </dev/null &`;

/** Waits for a window whose name holds one of `names`, raises it, and answers whether one came. */
async function activate(
  ctx: SetupContext,
  i: number,
  step: SetupStep,
  names: string[],
  ms: number,
) {
  const pattern = names.map(regexQuote).join('|');
  const r = await run(
    ctx,
    i,
    step,
    `deadline=$(($(date +%s) + ${Math.ceil(ms / 1000)}))
     while :; do
       w=$(xdotool search --onlyvisible --name ${shellQuote(pattern)} 2>/dev/null | head -n1)
       [ -n "$w" ] && { xdotool windowactivate "$w" 2>/dev/null || xdotool windowraise "$w"; exit 0; }
       [ "$(date +%s)" -ge "$deadline" ] && exit 1
       sleep 0.1
     done`,
  );
  return r.exit_code === 0;
}

/** Runs the steps in order; a step that cannot run fails the session create (2001 / 2002). */
export async function runSetup(steps: readonly SetupStep[], ctx: SetupContext): Promise<void> {
  for (const [i, step] of steps.entries()) {
    const started = Date.now();
    switch (step.type) {
      case 'launch':
        await run(ctx, i, step, background(commandOf(step, i)));
        break;
      case 'execute':
      case 'command': {
        const command = placeholders(commandOf(step, i), ctx);
        const until = (param(step, i, 'until') ?? {}) as {
          returncode?: number;
          stdout?: string;
          stderr?: string;
        };
        for (;;) {
          const r = await run(ctx, i, step, command);
          const met =
            Object.keys(until).length === 0 ||
            (until.returncode !== undefined && r.exit_code === until.returncode) ||
            (until.stdout !== undefined && r.stdout.includes(until.stdout)) ||
            (until.stderr !== undefined && r.stderr.includes(until.stderr));
          if (met) break;
          if (Date.now() - started > STEP_TIMEOUT_MS) {
            throw new BackendError(
              `setup[${i}] (${step.type}): its "until" condition was not met within ` +
                `${STEP_TIMEOUT_MS / 1000}s (last exit code ${r.exit_code}).`,
            );
          }
          await Bun.sleep(UNTIL_RETRY_MS);
        }
        break;
      }
      case 'sleep':
        await Bun.sleep((param(step, i, 'seconds') as number) * 1000);
        break;
      case 'open': {
        // As upstream's in-VM server: a file opens with its program (xdg-open when one is set up;
        // a text view in an xterm otherwise), a name found on PATH is started; then its window is
        // awaited and raised.
        const path = param(step, i, 'path') as string;
        const found = await run(
          ctx,
          i,
          step,
          `p=${shellQuote(path)}; case "$p" in "~"/*) p="$HOME\${p#\\~}";; esac
           if [ -e "$p" ]; then
             t=$(xdg-mime query filetype "$p" 2>/dev/null)
             if [ -n "$t" ] && [ -n "$(xdg-mime query default "$t" 2>/dev/null)" ]; then
               nohup xdg-open "$p" >/dev/null 2>&1 </dev/null &
             else
               nohup xterm -hold -T "$(basename "$p")" -e cat -- "$p" >/dev/null 2>&1 </dev/null &
             fi
             echo file
           elif command -v "$p" >/dev/null 2>&1; then
             nohup "$p" >/dev/null 2>&1 </dev/null &
             echo program
           else
             exit 3
           fi`,
        );
        if (found.exit_code === 3) {
          throw new BackendError(
            `setup[${i}] (open): no file or program "${path}" in the desktop.`,
          );
        }
        const base = path.split('/').pop()!;
        const names = [base, base.replace(/\.[^.]*$/, '')].filter(
          (n, k, a) => n && a.indexOf(n) === k,
        );
        if (!(await activate(ctx, i, step, names, STEP_TIMEOUT_MS - 5000))) {
          throw new BackendError(`setup[${i}] (open): no window for "${path}" appeared.`);
        }
        break;
      }
      case 'activate_window': {
        // strict / by_class: upstream matches the whole name, or the window class.
        const name = param(step, i, 'window_name') as string;
        const flag = param(step, i, 'by_class') === true ? '--class' : '--name';
        const pattern =
          param(step, i, 'strict') === true ? `^${regexQuote(name)}$` : regexQuote(name);
        const r = await run(
          ctx,
          i,
          step,
          `w=$(xdotool search --onlyvisible ${flag} ${shellQuote(pattern)} | head -n1)
           [ -n "$w" ] && xdotool windowactivate "$w"`,
        );
        // Upstream logs a window it cannot find and goes on; so does this.
        if (r.exit_code !== 0) {
          ctx.log.warn('vm.setup_window_missing', { session_id: ctx.sessionId, window_name: name });
        }
        break;
      }
    }
    ctx.log.info('vm.setup_step', {
      session_id: ctx.sessionId,
      step: i,
      type: step.type,
      duration_ms: Date.now() - started,
    });
  }
}
