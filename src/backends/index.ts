// The list of resource types this server knows. Adding one: a folder beside bash/ and a line here.
import type { BackendModule } from './backend.ts';
import bash from './bash/index.ts';
import rag from './rag/index.ts';

export const backendModules = [bash, rag] as const satisfies readonly BackendModule[];
