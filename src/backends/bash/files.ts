// bash:read_file / bash:write_file: paths are taken relative to the session's workspace and must
// stay inside it, symlinks included.
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile, appendFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ParameterError } from '../../core/errors.ts';

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The real path of `path`'s deepest existing ancestor joined with the rest. */
function realpathLenient(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    if (lstatSync(existing, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new ParameterError(
        'path leads through a dangling symbolic link; refusing to follow it',
      );
    }
    const parent = dirname(existing);
    rest.unshift(existing.slice(parent.length + 1));
    if (parent === existing) break;
    existing = parent;
  }
  return resolve(realpathSync(existing), ...rest);
}

export function resolveInWorkspace(workspace: string, path: string): string {
  if (path.includes('\0')) throw new ParameterError('path must not contain NUL bytes');
  const target = resolve(workspace, path);
  const root = realpathSync(workspace);
  if (!inside(workspace, target) || !inside(root, realpathLenient(target))) {
    throw new ParameterError(
      `path "${path}" is outside the session workspace; use a path relative to it`,
    );
  }
  return target;
}

export async function readWorkspaceFile(
  workspace: string,
  path: string,
  encoding: 'utf8' | 'base64',
  maxBytes: number,
): Promise<{ path: string; content: string; encoding: string; size: number }> {
  const target = resolveInWorkspace(workspace, path);
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new ParameterError(`File not found: ${path}`);
  if (!info.isFile()) throw new ParameterError(`Not a regular file: ${path}`);
  if (info.size > maxBytes) {
    throw new ParameterError(
      `File ${path} is ${info.size} bytes, above the ${maxBytes}-byte limit; read parts of it ` +
        'with bash:run (head, tail, sed -n).',
    );
  }
  const bytes = await readFile(target);
  return {
    path: relative(workspace, target) || '.',
    content: bytes.toString(encoding),
    encoding,
    size: bytes.length,
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export async function writeWorkspaceFile(
  workspace: string,
  path: string,
  content: string,
  encoding: 'utf8' | 'base64',
  append: boolean,
): Promise<{ path: string; size: number }> {
  const target = resolveInWorkspace(workspace, path);
  let bytes: Buffer;
  if (encoding === 'base64') {
    const compact = content.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
      throw new ParameterError('content is not valid base64');
    }
    bytes = Buffer.from(compact, 'base64');
  } else {
    bytes = Buffer.from(content, 'utf8');
  }
  const info = await stat(target).catch(() => undefined);
  if (info?.isDirectory()) throw new ParameterError(`${path} is a directory`);
  await mkdir(dirname(target), { recursive: true });
  await (append ? appendFile : writeFile)(target, bytes);
  return { path: relative(workspace, target), size: bytes.length };
}
