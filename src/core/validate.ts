// TypeBox validation with errors that name the bad field, shared by config, session configs and
// tool params: compile once, apply defaults, report the first few problems as one readable line;
// and the lenient path that drops unknown keys before a value is validated.
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value, type ValueError } from '@sinclair/typebox/value';

export interface Validator<T extends TSchema> {
  readonly schema: T;
  /** Applies defaults in place and returns the value, or throws `makeError(message)`. */
  parse(value: unknown, makeError: (message: string) => Error): Static<T>;
}

export function describeErrors(errors: Iterable<ValueError>, limit = 3): string {
  const parts: string[] = [];
  for (const e of errors) {
    const field = e.path === '' ? '(root)' : e.path.slice(1).replaceAll('/', '.');
    // A schema may say in words what its pattern means (`errorMessage`), for a readable 1002.
    const own = (e.schema as { errorMessage?: unknown }).errorMessage;
    parts.push(`${field}: ${typeof own === 'string' ? own : e.message}`);
    if (parts.length >= limit) break;
  }
  return parts.join('; ');
}

export function compileValidator<T extends TSchema>(schema: T): Validator<T> {
  const check: TypeCheck<T> = TypeCompiler.Compile(schema);
  return {
    schema,
    parse(value, makeError) {
      const withDefaults = Value.Default(schema, value ?? {});
      if (check.Check(withDefaults)) return withDefaults as Static<T>;
      throw makeError(describeErrors(check.Errors(withDefaults)));
    },
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The value without the keys its schema does not know, and the dotted paths of those keys. Only
 * closed objects (`additionalProperties: false`) lose keys, at any depth; unions, records and open
 * objects are left as they are, so validation still judges them. The value is not modified.
 */
export function stripUnknownKeys(
  schema: TSchema,
  value: unknown,
): { value: unknown; ignored: string[] } {
  const ignored: string[] = [];
  return { value: strip(schema, value, '', ignored), ignored };
}

function strip(schema: TSchema, value: unknown, path: string, ignored: string[]): unknown {
  const s = schema as {
    type?: unknown;
    properties?: Record<string, TSchema>;
    additionalProperties?: unknown;
  };
  if (
    !isPlainObject(value) ||
    s.type !== 'object' ||
    !s.properties ||
    s.additionalProperties !== false
  ) {
    return value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value)) {
    const where = path === '' ? key : `${path}.${key}`;
    const child = Object.hasOwn(s.properties, key) ? s.properties[key] : undefined;
    if (!child) {
      copy ??= { ...value };
      delete copy[key];
      ignored.push(where);
      continue;
    }
    const inner = strip(child, v, where, ignored);
    if (inner !== v) {
      copy ??= { ...value };
      copy[key] = inner;
    }
  }
  return copy ?? value;
}
