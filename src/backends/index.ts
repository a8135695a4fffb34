// The list of resource types this server knows. Adding one: a folder beside bash/ and a line here.
import type { BackendModule } from './backend.ts';
import bash from './bash/index.ts';
import ds from './ds/index.ts';
import python from './python/index.ts';
import doc from './doc/index.ts';
import rag from './rag/index.ts';
import text2sql from './text2sql/index.ts';
import vm from './vm/index.ts';
import web from './web/index.ts';

export const backendModules = [
  bash,
  rag,
  vm,
  python,
  ds,
  text2sql,
  doc,
  web,
] as const satisfies readonly BackendModule[];
