// The tool registry: every backend's tools under `type:name`, the spellings of SPEC §4 resolved
// in one map lookup, params validated by compiled TypeBox checks, and the JSON Schema / OpenAI
// exports derived from the same definitions.
import type { TSchema } from '@sinclair/typebox';
import type { Backend, ToolDefinition } from '../backends/backend.ts';
import { ParameterError, ToolNotFoundError } from './errors.ts';
import { compileValidator, stripUnknownKeys, type Validator } from './validate.ts';

export interface RegisteredTool {
  /** `type:name` */
  readonly fullName: string;
  readonly name: string;
  readonly resourceType: string;
  readonly backend: Backend;
  readonly definition: ToolDefinition;
  readonly hidden: boolean;
  /** True when the tool runs on a per-worker session (made temporary when the worker has none). */
  readonly needsSession: boolean;
  /**
   * Validates params (defaults applied) or throws 1002. Unknown keys are dropped and listed in
   * `ignored`, unless the registry is strict (then they are a 1002).
   */
  parseParams(params: unknown): { params: Record<string, unknown>; ignored: string[] };
}

export interface RegistryOptions {
  /**
   * Unknown params are a 1002 (`execution.strict_params`). Off by default: upstream's tools take
   * `**kwargs`, and its rollout runner and synthesis worker merge every task's kwargs (such as
   * `seed_path`) into every tool call.
   */
  strictParams?: boolean;
}

export interface ToolDescription {
  /** The full name, like `full_name` (upstream's `name` is the short one: see the README). */
  name: string;
  full_name: string;
  description: string;
  resource_type: string;
  /** The call needs no session of the worker (shared backends such as rag). */
  stateless: boolean;
  parameters: unknown;
  returns?: unknown;
  hidden: boolean;
}

export interface OpenAiFunction {
  type: 'function';
  function: { name: string; description: string; parameters: unknown };
}

/**
 * Plain JSON Schema: TypeBox schemas carry symbol keys that must not leak into documents, and a
 * property with a default is not required of the caller (TypeBox lists every non-optional one),
 * at any depth, so a model reading the schema is not told to send `button` to `vm:click`.
 */
function jsonSchema(schema: TSchema): unknown {
  return withoutDefaultedRequired(JSON.parse(JSON.stringify(schema)));
}

function withoutDefaultedRequired(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDefaultedRequired);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = withoutDefaultedRequired(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props && typeof props === 'object') {
    const required = (out.required as string[]).filter(
      (name) => !('default' in (props[name] ?? {})),
    );
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}

export class ToolRegistry {
  private readonly byFullName = new Map<string, RegisteredTool>();
  /** Every accepted spelling → tool; `null` marks a bare name shared by several tools. */
  private readonly aliases = new Map<string, RegisteredTool | null>();

  constructor(
    backends: readonly Backend[],
    private readonly options: RegistryOptions = {},
  ) {
    for (const backend of backends) {
      for (const def of backend.tools) this.add(backend, def);
    }
  }

  private add(backend: Backend, def: ToolDefinition): void {
    const fullName = `${backend.name}:${def.name}`;
    if (this.byFullName.has(fullName)) throw new Error(`tool ${fullName} is registered twice`);
    const validator: Validator<TSchema> = compileValidator(def.params);
    const tool: RegisteredTool = {
      fullName,
      name: def.name,
      resourceType: backend.name,
      backend,
      definition: def,
      hidden: def.hidden === true,
      needsSession: backend.sessionConfig !== undefined && backend.shared !== true,
      parseParams: (params) => {
        const lenient = this.options.strictParams
          ? { value: params, ignored: [] }
          : stripUnknownKeys(def.params, params);
        const parsed = validator.parse(
          lenient.value,
          (msg) => new ParameterError(`Invalid params for ${fullName}: ${msg}`),
        ) as Record<string, unknown>;
        return { params: parsed, ignored: lenient.ignored };
      },
    };
    this.byFullName.set(fullName, tool);
    // `__` is the OpenAI spelling, so a model's function call can be passed straight back.
    for (const sep of [':', '.', '_', '-', '__'])
      this.aliases.set(`${backend.name}${sep}${def.name}`, tool);
    const bare = this.aliases.get(def.name);
    this.aliases.set(def.name, bare === undefined ? tool : null);
  }

  /** Resolves any accepted spelling of a tool name (SPEC §4) or throws 1001. */
  resolve(action: string): RegisteredTool {
    const tool = this.aliases.get(action);
    if (tool) return tool;
    if (tool === null) {
      const candidates = [...this.byFullName.values()]
        .filter((t) => t.name === action)
        .map((t) => t.fullName);
      throw new ToolNotFoundError(
        `Tool name "${action}" is ambiguous: use one of ${candidates.join(', ')}`,
      );
    }
    throw new ToolNotFoundError(
      `Unknown tool "${action}". GET /tools lists the available tools (e.g. "bash:run").`,
    );
  }

  /** Like resolve, but for a name that might be absent: undefined instead of throwing. */
  find(action: string): RegisteredTool | undefined {
    return this.aliases.get(action) ?? undefined;
  }

  list(includeHidden: boolean): RegisteredTool[] {
    return [...this.byFullName.values()].filter((t) => includeHidden || !t.hidden);
  }

  describe(tool: RegisteredTool): ToolDescription {
    const d: ToolDescription = {
      name: tool.fullName,
      full_name: tool.fullName,
      description: tool.definition.description,
      resource_type: tool.resourceType,
      stateless: !tool.needsSession,
      parameters: jsonSchema(tool.definition.params),
      hidden: tool.hidden,
    };
    if (tool.definition.returns) d.returns = jsonSchema(tool.definition.returns);
    return d;
  }

  /** OpenAI function-calling format; `:` is not allowed in function names, so it becomes `__`. */
  toOpenAi(tool: RegisteredTool): OpenAiFunction {
    return {
      type: 'function',
      function: {
        name: tool.fullName.replace(':', '__'),
        description: tool.definition.description,
        parameters: jsonSchema(tool.definition.params),
      },
    };
  }
}
