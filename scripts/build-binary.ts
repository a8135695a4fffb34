// `bun run build`: compiles the server into one self-contained executable. Worker threads must be
// extra entry points of the compile, so every src/**/*-worker.ts is added here.
import { Glob } from 'bun';
import { join } from 'node:path';

const root = join(import.meta.dir, '..');
const outfile = process.argv[2] ?? join(root, 'dist', 'agentflow-server');
const workers = [...new Glob('src/**/*-worker.ts').scanSync({ cwd: root })].sort();
const result = await Bun.build({
  entrypoints: [join(root, 'src/main.ts'), ...workers.map((w) => join(root, w))],
  compile: { outfile },
  // Identifiers stay: error class names are part of the API (meta.error_type).
  minify: { whitespace: true, syntax: true, identifiers: false },
  sourcemap: 'none',
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} (workers: ${workers.join(', ') || 'none'})`);
