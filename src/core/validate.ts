// TypeBox validation with errors that name the bad field, shared by config, session configs and
// tool params: compile once, apply defaults, report the first few problems as one readable line.
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
