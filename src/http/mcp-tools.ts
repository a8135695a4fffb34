// The registry's tools and the session lifecycle as MCP tools: one SDK `Server` per MCP session,
// whose tools/call goes through the same executor path as POST /execute for the session's worker.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../core/auth.ts';
import { AgentFlowError, ParameterError } from '../core/errors.ts';
import { ExecutionFailure, toAgentFlowError } from '../core/executor.ts';
import type { RegisteredTool } from '../core/tools.ts';
import { VERSION } from '../version.ts';
import type { AppDeps } from './deps.ts';
import { createSession } from './sessions.ts';

/** Who an MCP session acts as, and the calls it has running (to cancel on a closed stream). */
export interface McpWorker {
  readonly workerId: string;
  readonly caller: Caller;
  readonly running: Map<string | number, AbortController>;
}

/** MCP tool names allow `[A-Za-z0-9._-]`: `bash:run` is served as `bash_run` (/execute takes both). */
export const mcpToolName = (tool: RegisteredTool) => tool.fullName.replace(':', '_');

/** A result that carries a picture (vm:screenshot's `{image, format, …}`) by this convention. */
const IMAGE_FORMATS: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg' };

interface JsonObjectSchema {
  type?: string;
  properties?: Record<string, unknown>;
  required?: string[];
}

/** The result schema as MCP's outputSchema: the image of a picture result is a content block. */
function outputSchema(returns: unknown): Tool['outputSchema'] | undefined {
  const schema = returns as JsonObjectSchema | undefined;
  if (schema?.type !== 'object' || !schema.properties) return undefined;
  if (!('image' in schema.properties && 'format' in schema.properties)) {
    return schema as Tool['outputSchema'];
  }
  const { image: _image, ...properties } = schema.properties;
  const required = schema.required?.filter((name) => name !== 'image');
  const without = { ...schema, properties, ...(required ? { required } : {}) };
  return without as Tool['outputSchema'];
}

const SESSION_TOOLS: Tool[] = [
  {
    name: 'session_create',
    description:
      "Create this worker's session of a resource type (idempotent: an existing one is returned).",
    inputSchema: {
      type: 'object',
      properties: {
        resource_type: { type: 'string', minLength: 1, maxLength: 64, description: 'e.g. bash' },
        config: { type: 'object', description: "The resource type's session config" },
        custom_name: { type: 'string', minLength: 1, maxLength: 64 },
      },
      required: ['resource_type'],
    },
  },
  {
    name: 'session_destroy',
    description: "Destroy this worker's session of a resource type, or all of them without one.",
    inputSchema: {
      type: 'object',
      properties: { resource_type: { type: 'string', minLength: 1, maxLength: 64 } },
    },
  },
  {
    name: 'session_list',
    description: "List this worker's sessions.",
    inputSchema: { type: 'object', properties: {} },
  },
];

/** The MCP tool list: every visible registry tool, then the session lifecycle tools. */
export function listTools(deps: AppDeps): Tool[] {
  const tools = deps.registry.list(false).map((tool): Tool => {
    const d = deps.registry.describe(tool);
    const output = d.returns === undefined ? undefined : outputSchema(d.returns);
    return {
      name: mcpToolName(tool),
      title: tool.fullName,
      description: d.description,
      inputSchema: d.parameters as Tool['inputSchema'],
      ...(output ? { outputSchema: output } : {}),
    };
  });
  return [...tools, ...SESSION_TOOLS];
}

/** A tool's answer as MCP content: JSON text plus structuredContent, a picture as an image. */
export function toolResult(data: unknown, meta: Record<string, unknown>): CallToolResult {
  const _meta = { 'agentflow/meta': meta };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    const text = typeof data === 'string' ? data : JSON.stringify(data ?? null);
    return { content: [{ type: 'text', text }], _meta };
  }
  const { image, ...rest } = data as Record<string, unknown>;
  const mimeType = IMAGE_FORMATS[String(rest.format)];
  if (typeof image === 'string' && mimeType) {
    return {
      content: [
        { type: 'image', data: image, mimeType },
        { type: 'text', text: JSON.stringify(rest) },
      ],
      structuredContent: rest,
      _meta,
    };
  }
  return {
    content: [{ type: 'text', text: JSON.stringify(data) }],
    structuredContent: data as Record<string, unknown>,
    _meta,
  };
}

/** A call that ran and failed: isError with the message, its AgentFlow code and partial data. */
export function errorResult(error: AgentFlowError, meta: Record<string, unknown>): CallToolResult {
  const content: CallToolResult['content'] = [
    { type: 'text', text: `${error.message} (AgentFlow code ${error.code}, ${error.name})` },
  ];
  if (error.data !== null && error.data !== undefined) {
    content.push({ type: 'text', text: JSON.stringify(error.data) });
  }
  return {
    isError: true,
    content,
    _meta: { 'agentflow/code': error.code, 'agentflow/error_type': error.name, ...meta },
  };
}

function stringArg(args: Record<string, unknown>, name: string): string | undefined {
  const value = args[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw new ParameterError(`${name} must be a string of 1 to 64 characters`);
  }
  return value;
}

/** session_create / session_destroy / session_list for the MCP session's worker. */
async function sessionTool(
  deps: AppDeps,
  worker: McpWorker,
  name: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const { workerId } = worker;
  if (name === 'session_create') {
    const resourceType = stringArg(args, 'resource_type');
    if (!resourceType) throw new ParameterError('session_create needs resource_type');
    const config = args.config ?? undefined;
    const { data, ignored } = await createSession(
      deps,
      workerId,
      resourceType,
      config,
      stringArg(args, 'custom_name'),
    );
    return ignored.length > 0 ? { ...data, ignored_config: ignored } : data;
  }
  if (name === 'session_destroy') {
    const destroyed = await deps.sessions.destroy(workerId, stringArg(args, 'resource_type'));
    return { destroyed: destroyed.map((s) => s.view()), count: destroyed.length };
  }
  const sessions = deps.sessions.list(workerId).map((s) => s.view());
  return { worker_id: workerId, sessions, count: sessions.length };
}

/**
 * MCP has no per-call timeout beside the arguments: a tool's own `timeout` (bash_run, vm_exec)
 * longer than the default bounds the call too, with a second for the tool to report its own
 * timeout with its output, up to the maximum.
 */
function callTimeout(deps: AppDeps, args: Record<string, unknown>): number | undefined {
  const { default_timeout_seconds: fallback, max_timeout_seconds: max } = deps.config.execution;
  const own = args.timeout;
  if (typeof own !== 'number' || !Number.isFinite(own) || own + 1 <= fallback) return undefined;
  return Math.min(own + 1, max);
}

/** Runs one tools/call; only an unknown tool is a JSON-RPC error (the call never ran). */
async function callTool(
  deps: AppDeps,
  worker: McpWorker,
  name: string,
  args: Record<string, unknown>,
  signal: AbortSignal,
): Promise<CallToolResult> {
  if (SESSION_TOOLS.some((t) => t.name === name)) {
    try {
      return toolResult(await sessionTool(deps, worker, name, args), {
        worker_id: worker.workerId,
      });
    } catch (err) {
      return errorResult(toAgentFlowError(err), {});
    }
  }
  const tool = deps.registry.find(name);
  if (!tool) {
    throw new McpError(ErrorCode.InvalidParams, `Unknown tool "${name}": tools/list lists them.`);
  }
  try {
    const result = await deps.executor.execute({
      workerId: worker.workerId,
      caller: worker.caller,
      action: tool.fullName,
      params: args,
      timeout: callTimeout(deps, args),
      signal,
    });
    return toolResult(result.data, { ...result.meta });
  } catch (err) {
    if (!(err instanceof ExecutionFailure)) throw err;
    if (err.error.code === 5000) {
      const cause = err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : err.cause;
      deps.log.error('mcp.internal_error', { tool: tool.fullName, error: cause });
    }
    return errorResult(err.error, { ...err.meta });
  }
}

/** The SDK server of one MCP session. */
export function createMcpServer(deps: AppDeps, worker: McpWorker): Server {
  const server = new Server(
    { name: 'agentflow-server', version: VERSION },
    {
      capabilities: { tools: {} },
      instructions:
        `Tools of an AgentFlow server, acting as worker "${worker.workerId}". Session-backed ` +
        'tools (bash_*, vm_*) use this worker’s session of their type, or a temporary one.',
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listTools(deps) }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    // One controller per call: the client's notifications/cancelled (the SDK's signal) and a
    // closed HTTP stream (mcp.ts) both abort it; the executor then stops the call.
    const abort = new AbortController();
    const cancel = () => abort.abort();
    extra.signal.addEventListener('abort', cancel, { once: true });
    worker.running.set(extra.requestId, abort);
    try {
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      return await callTool(deps, worker, request.params.name, args, abort.signal);
    } finally {
      worker.running.delete(extra.requestId);
      extra.signal.removeEventListener('abort', cancel);
    }
  });
  return server;
}
