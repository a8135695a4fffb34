// A scripted OpenAI-compatible chat model on loopback, for the compat harness (bench/compat/run.ts).
// It speaks the chat-completions format upstream's pipelines send and read, scripts their tool
// use, and logs every observation it is shown, so the harness can check each one is a real
// result of our server and not an error text:
// - a request with `tools` (the rollout runner): a tool call of the first tool with a query taken
//   from the task, then, once a `tool` message is in the conversation, a final answer;
// - `response_format: json_object` (the synthesizer): a question/answer pair with three steps;
// - anything else (the sampler's exploration prompt): one action in the XML the sampler parses.
import { appendFileSync } from 'node:fs';

const logPath = process.env.FAKE_MODEL_LOG ?? '/tmp/fake-model.jsonl';
const queries = ['session timeout', 'bash sandbox isolation', 'retrieval index', 'worker keys'];
let turn = 0;

interface ChatMessage {
  role: string;
  content?: string | null;
  tool_calls?: unknown[];
}
interface ChatRequest {
  messages: ChatMessage[];
  tools?: { function: { name: string; parameters?: { properties?: Record<string, unknown> } } }[];
  response_format?: { type?: string };
}

const log = (entry: Record<string, unknown>) =>
  appendFileSync(logPath, JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n');

function reply(message: Record<string, unknown>) {
  return Response.json({
    id: `fake-${++turn}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: 'fake',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', ...message } }],
  });
}

function answer(body: ChatRequest): Response {
  const last = body.messages.at(-1)?.content ?? '';
  if (body.tools && body.tools.length > 0) {
    const seen = body.messages.filter((m) => m.role === 'tool').map((m) => m.content ?? '');
    for (const content of seen) log({ kind: 'rollout-observation', content });
    if (seen.length > 0) {
      return reply({ content: `Final answer: ${seen.at(-1)!.slice(0, 80).replace(/\s+/g, ' ')}` });
    }
    const tool = body.tools[0]!.function;
    const task = body.messages.find((m) => m.role === 'user')?.content ?? 'timeout';
    const props = Object.keys(tool.parameters?.properties ?? {});
    const args = props.includes('command') ? { command: 'echo compat' } : { query: task };
    return reply({
      content: '',
      tool_calls: [
        {
          id: `call_${turn}`,
          type: 'function',
          function: { name: tool.name, arguments: JSON.stringify(args) },
        },
      ],
    });
  }
  if (body.response_format?.type === 'json_object') {
    log({ kind: 'synthesis-prompt', content: last });
    return reply({
      content: JSON.stringify({
        question: 'Which mechanism does the server documentation describe for idle sessions?',
        answer: 'expiry after their time to live',
        reasoning_steps: ['searched the index', 'read the passage', 'extracted the mechanism'],
      }),
    });
  }
  // The sampler's exploration prompt carries the observations seen so far.
  log({ kind: 'sampler-prompt', content: last });
  const query = queries[turn % queries.length]!;
  const tool = /rag[-_:]search/.exec(last)?.[0] ?? 'rag-search';
  return reply({
    content:
      `<response><intent>Look up ${query}</intent><action><tool_name>${tool}</tool_name>` +
      `<parameters>${JSON.stringify({ query })}</parameters></action></response>`,
  });
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.FAKE_MODEL_PORT ?? 0),
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (request.method === 'POST' && path.endsWith('/chat/completions')) {
      return answer((await request.json()) as ChatRequest);
    }
    return new Response('not found', { status: 404 });
  },
});
console.log(`fake model on ${server.url}`);
