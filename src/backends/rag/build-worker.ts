// Warmup of one index, run as a one-shot worker task (core/workers.ts): opens the index file, or
// builds it from its corpus, then embeds what has no vector, reporting documents done / total.
import { serveTask } from '../../core/workers.ts';
import { ensureIndex, type BuildInput, type BuildOutput } from './build.ts';

serveTask<BuildInput, BuildOutput>((input, progress) => ensureIndex(input, progress));
