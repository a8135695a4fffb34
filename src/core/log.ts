// A small structured logger: one JSON object per line on stderr, or a readable line on a terminal.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export function createLogger(
  level: LogLevel,
  pretty = process.stderr.isTTY === true,
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Logger {
  const min = rank[level];
  const emit = (
    lvl: Exclude<LogLevel, 'silent'>,
    event: string,
    fields?: Record<string, unknown>,
  ) => {
    if (rank[lvl] < min) return;
    const time = new Date().toISOString();
    if (pretty) {
      const rest = fields
        ? Object.entries(fields)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ')
        : '';
      write(`${time} ${lvl.toUpperCase().padEnd(5)} ${event} ${rest}`.trimEnd());
    } else {
      write(JSON.stringify({ time, level: lvl, event, ...fields }));
    }
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}

export const silentLogger: Logger = createLogger('silent');
