// `bun bench/compat/run.ts`: upstream AgentFlow's own pipelines, unchanged, against this server.
// Not a test (upstream's code is not in this repository): point UPSTREAM_DIR at a checkout of
// OpenDCAI/AgentFlow. It starts our server (bash and rag with the demo corpus) and a scripted
// model (fake-model.ts) on loopback, runs upstream's `rollout.pipeline` and `synthesis/pipeline.py`
// with Debian's python3 and the `openai` stand-in beside this file, then checks every observation
// the model was shown and every one the pipelines saved: each must be a real result of our
// server, never an error text, a formatter failure or an empty string.
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const upstream = process.env.UPSTREAM_DIR;
if (!upstream || !existsSync(join(upstream, 'rollout', 'pipeline.py'))) {
  console.error(
    'Set UPSTREAM_DIR to a checkout of OpenDCAI/AgentFlow (rollout/, synthesis/, sandbox/).',
  );
  process.exit(2);
}
const python = process.env.PYTHON ?? '/usr/bin/python3';
const root = join(import.meta.dir, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'af-compat-'));
const children: { kill(): void }[] = [];
const cleanup = () => {
  for (const c of children) c.kill();
  if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => (cleanup(), process.exit(130)));

const port = 30000 + Math.floor(Math.random() * 10000);
const modelPort = port + 1;
const serverUrl = `http://127.0.0.1:${port}`;
const modelLog = join(work, 'model.jsonl');

async function waitFor(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      await fetch(url);
      return;
    } catch {
      await Bun.sleep(100);
    }
  }
  throw new Error(`${url} did not answer`);
}

/** Runs one upstream pipeline to completion; its output is shown as it goes. */
async function pipeline(args: string[]): Promise<number> {
  const proc = Bun.spawn([python, ...args], {
    cwd: work,
    env: {
      ...process.env,
      PYTHONPATH: [join(import.meta.dir), upstream].join(':'),
      PYTHONUNBUFFERED: '1',
    },
    stdout: 'inherit',
    stderr: 'inherit',
  });
  const timer = setTimeout(() => proc.kill(), 300_000);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

const BAD = [/No formatter found/i, /^Error executing/i, /^\s*$/, /"code":\s*[1-9]/, /null\s*$/];

function check(kind: string, texts: string[], failures: string[]): void {
  console.log(`\n${kind}: ${texts.length} observations`);
  texts.forEach((text, i) => {
    const bad = BAD.find((re) => re.test(text));
    console.log(`  [${i}] ${bad ? 'BAD ' : 'ok  '} ${text.replace(/\s+/g, ' ').slice(0, 140)}`);
    if (bad) failures.push(`${kind} #${i} matches ${bad}: ${text.slice(0, 200)}`);
  });
  if (texts.length === 0) failures.push(`${kind}: no observation at all`);
}

try {
  writeFileSync(
    join(work, 'server.json'),
    JSON.stringify({
      log_level: 'warn',
      backends: { vm: { enabled: false }, rag: { default_top_k: 10 } },
    }),
  );
  const server = Bun.spawn(
    [
      'bun',
      'run',
      join(root, 'src/main.ts'),
      '--config',
      join(work, 'server.json'),
      '--port',
      String(port),
      '--data-dir',
      join(work, 'data'),
    ],
    { stdout: 'ignore', stderr: 'inherit' },
  );
  children.push(server);
  const model = Bun.spawn(['bun', 'run', join(import.meta.dir, 'fake-model.ts')], {
    env: { ...process.env, FAKE_MODEL_PORT: String(modelPort), FAKE_MODEL_LOG: modelLog },
    stdout: 'ignore',
    stderr: 'inherit',
  });
  children.push(model);
  await waitFor(`${serverUrl}/health`);
  await waitFor(`http://127.0.0.1:${modelPort}/`);

  // Rollout: two tasks, one with task kwargs that upstream's runner merges into every tool call.
  writeFileSync(
    join(work, 'tasks.jsonl'),
    [
      { id: 't1', question: 'How do sessions time out?', answer: 'ttl' },
      {
        id: 't2',
        question: 'What does the sandbox isolate?',
        answer: 'processes',
        kwargs: { seed_path: '/data/seed-1.txt' },
      },
    ]
      .map((t) => JSON.stringify(t))
      .join('\n') + '\n',
  );
  writeFileSync(
    join(work, 'rollout.json'),
    JSON.stringify({
      benchmark_name: 'compat',
      model_name: 'fake',
      api_key: 'not-a-key',
      base_url: `http://127.0.0.1:${modelPort}/v1`,
      max_turns: 3,
      max_retries: 0,
      max_workers: 1,
      available_tools: ['rag_search'],
      system_prompt: 'Answer from the knowledge base.',
      evaluate_results: false,
      sandbox_server_url: serverUrl,
      sandbox_auto_start: false,
      sandbox_timeout: 60,
      data_path: join(work, 'tasks.jsonl'),
      output_dir: join(work, 'rollout-out'),
      save_results: true,
      save_trajectories: true,
      parallel: false,
    }),
  );
  const rolloutCode = await pipeline([
    '-m',
    'rollout.pipeline',
    '--config',
    join(work, 'rollout.json'),
  ]);

  // Synthesis: one seed, a shallow tree.
  writeFileSync(
    join(work, 'seeds.jsonl'),
    JSON.stringify({ content: 'AgentFlow server sessions' }) + '\n',
  );
  writeFileSync(
    join(work, 'synthesis.json'),
    JSON.stringify({
      model_name: 'fake',
      api_key: 'not-a-key',
      base_url: `http://127.0.0.1:${modelPort}/v1`,
      max_depth: 3,
      branching_factor: 1,
      depth_threshold: 1,
      min_depth: 2,
      max_selected_traj: 1,
      resource_types: ['rag'],
      resource_init_configs: { rag: { content: { top_k: 10, rerank: true } } },
      sandbox_server_url: serverUrl,
      sandbox_auto_start: false,
      sandbox_timeout: 60,
      available_tools: ['rag-search'],
      seed_description: 'A topic of the server documentation',
      seeds_file: join(work, 'seeds.jsonl'),
      output_dir: join(work, 'synthesis-out'),
    }),
  );
  // Upstream writes synthesis output into its own checkout (results/ds_synthesized_qa), appending:
  // only what this run adds is read.
  const synthesized = join(upstream, 'results', 'ds_synthesized_qa', 'trajectories.jsonl');
  const before = existsSync(synthesized) ? statSync(synthesized).size : 0;
  const synthesisCode = await pipeline([
    join(upstream, 'synthesis', 'pipeline.py'),
    '--config',
    join(work, 'synthesis.json'),
    '--output-dir',
    join(work, 'synthesis-out'),
  ]);

  const failures: string[] = [];
  if (rolloutCode !== 0) failures.push(`rollout.pipeline exited ${rolloutCode}`);
  if (synthesisCode !== 0) failures.push(`synthesis/pipeline.py exited ${synthesisCode}`);
  const logged = existsSync(modelLog)
    ? readFileSync(modelLog, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
  check(
    'rollout: tool results the model was shown',
    logged.filter((e) => e.kind === 'rollout-observation').map((e) => e.content),
    failures,
  );

  // What the pipelines saved: rollout results (tool_calls[].result) and synthesized trajectories.
  const saved: string[] = [];
  for (const dir of ['rollout-out', 'synthesis-out']) {
    const base = join(work, dir);
    if (!existsSync(base)) continue;
    for (const file of readdirSync(base, { recursive: true }) as string[]) {
      if (!/\.jsonl?$/.test(file)) continue;
      const text = readFileSync(join(base, file), 'utf8');
      for (const m of text.matchAll(/"observation":\s*"((?:[^"\\]|\\.)*)"/g))
        saved.push(JSON.parse(`"${m[1]}"`));
      for (const m of text.matchAll(/"role":\s*"tool",\s*"content":\s*"((?:[^"\\]|\\.)*)"/g))
        saved.push(JSON.parse(`"${m[1]}"`));
    }
  }
  if (existsSync(synthesized)) {
    const added = readFileSync(synthesized).subarray(before).toString('utf8');
    for (const line of added.split('\n').filter(Boolean)) {
      for (const node of (JSON.parse(line).nodes ?? []) as { observation?: string }[]) {
        if (typeof node.observation === 'string') saved.push(node.observation);
      }
    }
  }
  check(
    'saved by the pipelines (trajectory observations, tool messages)',
    saved.filter((s) => !s.startsWith('Starting point:')),
    failures,
  );

  console.log(
    failures.length === 0 ? '\nCOMPAT OK' : `\nCOMPAT FAILED:\n- ${failures.join('\n- ')}`,
  );
  process.exitCode = failures.length === 0 ? 0 : 1;
} finally {
  cleanup();
}
