// `agentflow-server mcp`: bridges a stdio MCP client (Claude Desktop's config) to a running
// server's /mcp, message for message, with the key and the worker id on every request.
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

export const BRIDGE_HELP = `Usage: agentflow-server mcp --url <server>/mcp [--key <key>] [--worker <id>]

Serves MCP on stdin/stdout and forwards every message to a running server's /mcp.
  --url <url>       the server's MCP endpoint (default http://127.0.0.1:18890/mcp; also AGENTFLOW_MCP_URL)
  --key <key>       API key, sent as Authorization: Bearer (also AGENTFLOW_API_KEY)
  --worker <id>     worker id, sent as X-Worker-ID (also AGENTFLOW_WORKER_ID; default mcp-stdio-<random>)`;

function isInitializeResult(m: JSONRPCMessage): m is JSONRPCMessage & {
  result: { protocolVersion: string };
} {
  const result = (m as { result?: { protocolVersion?: unknown } }).result;
  return typeof result?.protocolVersion === 'string';
}

/** Runs the bridge until stdin closes; resolves with the exit status. */
export async function runBridge(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        worker: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`agentflow-server mcp: ${(err as Error).message}\n${BRIDGE_HELP}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${BRIDGE_HELP}\n`);
    return 0;
  }
  let url: URL;
  try {
    url = new URL(args.url ?? env.AGENTFLOW_MCP_URL ?? 'http://127.0.0.1:18890/mcp');
  } catch {
    process.stderr.write(`agentflow-server mcp: --url is not a URL: ${args.url}\n`);
    return 2;
  }
  const key = args.key ?? env.AGENTFLOW_API_KEY;
  const worker =
    args.worker ?? env.AGENTFLOW_WORKER_ID ?? `mcp-stdio-${randomBytes(4).toString('hex')}`;
  const headers: Record<string, string> = { 'x-worker-id': worker };
  if (key) headers.authorization = `Bearer ${key}`;

  const http = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const stdio = new StdioServerTransport();
  const log = (message: string) => process.stderr.write(`agentflow-server mcp: ${message}\n`);
  const done = new Promise<void>((resolve) => (stdio.onclose = resolve));
  // The SDK's stdio transport does not watch for the end of stdin: the client has gone.
  process.stdin.once('end', () => void stdio.close());

  http.onmessage = (message) => {
    // The SDK client sends MCP-Protocol-Version once it knows it; a raw forwarder learns it here.
    if (isInitializeResult(message)) http.setProtocolVersion(message.result.protocolVersion);
    void stdio.send(message).catch((err: unknown) => log(`stdout: ${String(err)}`));
  };
  http.onerror = (err) => log(String(err.message));
  stdio.onmessage = (message) => {
    void http.send(message).catch((err: unknown) => {
      log(`${url.href}: ${(err as Error).message}`);
      // A request the server never answered still gets an answer, so the client does not hang.
      const id = (message as { id?: string | number }).id;
      if (id === undefined || !('method' in message)) return;
      const reply: JSONRPCMessage = {
        jsonrpc: '2.0',
        id,
        error: {
          code: -32000,
          message: `AgentFlow server at ${url.href}: ${(err as Error).message}`,
        },
      };
      void stdio.send(reply).catch(() => undefined);
    });
  };
  await http.start();
  await stdio.start();
  await done;
  await http.terminateSession().catch(() => undefined);
  await http.close();
  return 0;
}
