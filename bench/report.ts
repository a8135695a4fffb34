// Result rows and the final table.

export interface Row {
  /** e.g. "1. bash:run latency (1 client)" */
  bench: string;
  metric: string;
  ours: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** true / false when there is a goal, null when the row is informational. */
  met: boolean | null;
}

export function row(r: Partial<Row> & Pick<Row, 'bench' | 'metric' | 'ours'>): Row {
  return { baseline: '', ratio: '', goal: '', met: null, ...r };
}

const verdict = (met: boolean | null) => (met === null ? '' : met ? 'yes' : 'NO');

export function table(rows: readonly Row[]): string {
  const header = ['Benchmark', 'Metric', 'Ours', 'Baseline', 'Ratio', 'Goal', 'Met'];
  const cells = rows.map((r) => [
    r.bench,
    r.metric,
    r.ours,
    r.baseline,
    r.ratio,
    r.goal,
    verdict(r.met),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join(' | ');
  const sep = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(header), sep, ...cells.map(line)].join('\n');
}

/** The same rows as a Markdown table (for BENCHMARKS.md). */
export function markdown(rows: readonly Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = [
    '| Benchmark | Metric | Ours | Baseline | Ratio | Goal | Met |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    out.push(
      `| ${[r.bench, r.metric, r.ours, r.baseline, r.ratio, r.goal, verdict(r.met)].map(esc).join(' | ')} |`,
    );
  }
  return out.join('\n');
}
