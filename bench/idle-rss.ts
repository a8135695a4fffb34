// Benchmark 7: idle RSS of a freshly started server after a warm-up (ready, a few hundred mixed
// requests, one session created, used and destroyed, a few temporary-session calls), beside the
// bare Bun.serve echo's idle RSS after the same number of requests.
import {
  fmtMB,
  log,
  MB,
  postJson,
  rss,
  sleep,
  startEchoServer,
  startOurServer,
  treeMemory,
} from './lib.ts';
import { row, type Row } from './report.ts';

const run = (worker: string) => ({
  worker_id: worker,
  action: 'bash:run',
  params: { command: 'echo hi' },
});

export async function benchIdleRss(): Promise<Row[]> {
  const [ours, echo] = await Promise.all([startOurServer('agentflow-idle'), startEchoServer()]);
  try {
    // Warm-up: the same request count on both.
    await postJson(ours.url + '/session/create', { worker_id: 'idle', resource_type: 'bash' });
    for (let i = 0; i < 100; i++) await fetch(ours.url + '/health').then((r) => r.arrayBuffer());
    for (let i = 0; i < 20; i++) await fetch(ours.url + '/tools').then((r) => r.arrayBuffer());
    for (let i = 0; i < 100; i++) await postJson(ours.url + '/execute', run('idle'));
    for (let i = 0; i < 20; i++) await postJson(ours.url + '/execute', run('idle-temp'));
    await postJson(ours.url + '/session/list', {});
    await postJson(ours.url + '/session/destroy', { worker_id: 'idle' });
    for (let i = 0; i < 120; i++) await fetch(echo.url + '/health').then((r) => r.arrayBuffer());
    for (let i = 0; i < 122; i++) await postJson(echo.url + '/execute', run('idle'));
    await sleep(1500);
    const oursRss = rss(ours.pid);
    const oursTree = treeMemory(ours.pid);
    const echoRss = rss(echo.pid);
    log(
      `  idle RSS: ours ${fmtMB(oursRss)} (tree ${fmtMB(oursTree.rss)}, ${oursTree.processes} ` +
        `processes), Bun.serve echo ${fmtMB(echoRss)}`,
    );
    return [
      row({
        bench: '7. idle RSS after start + warm-up',
        metric: 'server process RSS',
        ours: fmtMB(oursRss),
        baseline: `${fmtMB(echoRss)} Bun.serve echo`,
        ratio: `${(oursRss / echoRss).toFixed(2)}×`,
        goal: '≤ 80 MB',
        met: oursRss <= 80 * MB,
      }),
    ];
  } finally {
    await Promise.all([ours.stop(), echo.stop()]);
  }
}
