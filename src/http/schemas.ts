// Request-body schemas shared by the route groups (SPEC §3: worker ids, names, configs).
import { t } from 'elysia';
import { ParameterError } from '../core/errors.ts';

export const WorkerId = t.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._:-]+$',
  description: '1-128 characters of [A-Za-z0-9._:-]',
});

export const ResourceType = t.String({ minLength: 1, maxLength: 64, description: 'e.g. bash' });

/** Optional fields accept null too: the upstream Python client sends `null` for unset values. */
export const nullable = <T extends Parameters<typeof t.Optional>[0]>(schema: T) =>
  t.Optional(t.Union([schema, t.Null()]));

export const JsonObject = t.Record(t.String(), t.Unknown());

/** Query-string booleans as the Python client sends them (`False`) and as people type them. */
export function queryBool(value: string | undefined, name: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  switch (value) {
    case 'true':
    case 'True':
    case '1':
      return true;
    case 'false':
    case 'False':
    case '0':
      return false;
    default:
      throw new ParameterError(`${name} must be true or false (got "${value}")`);
  }
}
