// bash:read_file / bash:write_file: a path is resolved beneath the session's workspace and opened
// once, never following a symbolic link (beneath.ts), and everything after that goes through the
// descriptor, so a session swapping names meanwhile cannot redirect the server anywhere else.
import { closeSync, fchownSync, fstatSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { BackendError, ParameterError } from '../../core/errors.ts';
import { makeDirectoryAt, O, openBeneath, openDirectory } from './beneath.ts';

/** Who owns what a write creates (the session's uid when sessions run as their own user). */
export interface Owner {
  uid: number;
  gid: number;
}

export interface WriteOptions {
  append: boolean;
  /** Largest size the file may have after the write, append included. */
  maxBytes: number;
  owner?: Owner;
}

/** `path` relative to the workspace, normalised: `a/b.txt`, or `.` for the workspace itself. */
function workspacePath(workspace: string, path: string): string {
  if (path.includes('\0')) throw new ParameterError('path must not contain NUL bytes');
  // Lexical `..` is the kernel's too: no symbolic link is ever followed below the workspace.
  const rel = relative(workspace, resolve(workspace, path));
  if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
    throw new ParameterError(
      `path "${path}" is outside the session workspace; use a path relative to it`,
    );
  }
  return rel || '.';
}

function describeType(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function notRegular(path: string, what: string): ParameterError {
  return new ParameterError(
    `Not a regular file: "${path}" is ${what}; the file tools read and write regular files only ` +
      '(use bash:run for anything else)',
  );
}

/** The errno name of a failed system call (node's fs errors and SystemCallError carry one). */
function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A failed system call on `path` as the error the caller gets: 1002 when it is the path's doing. */
function explain(err: unknown, path: string, action: 'read' | 'write'): unknown {
  const code = errnoOf(err);
  switch (code) {
    case 'ELOOP':
      return new ParameterError(
        `path "${path}" leads through a symbolic link; the file tools do not follow symbolic ` +
          `links: ${action} it with bash:run, or give the link's target inside the workspace`,
      );
    case 'EXDEV':
      return new ParameterError(
        `path "${path}" is outside the session workspace; use a path relative to it`,
      );
    case 'ENOENT':
      return new ParameterError(
        action === 'read'
          ? `File not found: "${path}" does not exist in the session workspace`
          : `"${path}" vanished while it was written (the session changed it); try again`,
      );
    case 'ENOTDIR':
      return new ParameterError(
        `path "${path}": one of its parent components is not a directory; check the path`,
      );
    case 'EISDIR':
      return new ParameterError(`"${path}" is a directory; give the path of a file in it`);
    case 'ENXIO':
      return notRegular(path, 'a socket or a FIFO nobody reads');
    case 'EACCES':
    case 'EPERM':
      return new ParameterError(
        `permission denied to ${action} "${path}"; fix its mode with bash:run (chmod)`,
      );
    case 'EAGAIN':
      return new ParameterError(`"${path}" is locked by a process of the session; try again`);
    case 'ETXTBSY':
      return new ParameterError(`"${path}" is a program that is running; stop it first`);
    case 'ENAMETOOLONG':
      return new ParameterError(`path "${path}" is too long`);
    case undefined:
      return err;
    default:
      return new BackendError(`Could not ${action} "${path}": ${code}`);
  }
}

function close(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing left to do with a descriptor that will not close
  }
}

/** The workspace directory the server made, as a descriptor every lookup starts beneath. */
function openWorkspace(workspace: string): number {
  try {
    return openDirectory(workspace);
  } catch (err) {
    if (errnoOf(err) === undefined) throw err;
    throw new BackendError(
      `The session workspace ${workspace} cannot be opened (${(err as Error).message}); ` +
        'destroy the session and create it again',
    );
  }
}

export async function readWorkspaceFile(
  workspace: string,
  path: string,
  encoding: 'utf8' | 'base64',
  maxBytes: number,
): Promise<{ path: string; content: string; encoding: string; size: number }> {
  const rel = workspacePath(workspace, path);
  const root = openWorkspace(workspace);
  let fd: number | undefined;
  try {
    fd = openBeneath(root, rel, O.RDONLY);
    const info = fstatSync(fd);
    if (!info.isFile()) throw notRegular(path, describeType(info));
    const tooBig = (size: number | string) =>
      new ParameterError(
        `File "${path}" is ${size} bytes, above the ${maxBytes}-byte limit; read parts of it ` +
          'with bash:run (head, tail, sed -n).',
      );
    if (info.size > maxBytes) throw tooBig(info.size);
    // At most one byte more than allowed, which tells a file that grew past the limit since
    // fstat from one that did not.
    let bytes = Buffer.allocUnsafe(info.size + 1);
    let size = 0;
    for (;;) {
      const n = readSync(fd, bytes, size, bytes.length - size, null);
      if (n === 0) break;
      size += n;
      if (size === bytes.length) {
        if (size > maxBytes) throw tooBig(`more than ${maxBytes}`);
        const grown = Buffer.allocUnsafe(Math.min(size * 2, maxBytes + 1));
        bytes.copy(grown, 0, 0, size);
        bytes = grown;
      }
    }
    return { path: rel, content: bytes.toString(encoding, 0, size), encoding, size };
  } catch (err) {
    throw explain(err, path, 'read');
  } finally {
    if (fd !== undefined) close(fd);
    close(root);
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decode(content: string, encoding: 'utf8' | 'base64'): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  const compact = content.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new ParameterError('content is not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

/** Gives what this write made to `owner`: a failure is the server's setup, not the caller's. */
function handOver(fd: number, owner: Owner | undefined): void {
  if (!owner) return;
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } catch (err) {
    throw new BackendError(
      `Could not give a new file to uid ${owner.uid}, gid ${owner.gid} (${errnoOf(err)}): the ` +
        'server needs CAP_CHOWN to write files for sessions that run as their own user',
    );
  }
}

/** A directory made by `mkdirat`, handed to `owner`; a name the session made meanwhile is kept. */
function makeDirectory(dirFd: number, name: string, owner: Owner | undefined): number {
  try {
    makeDirectoryAt(dirFd, name, 0o755);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
    return openBeneath(dirFd, name, O.PATH | O.DIRECTORY);
  }
  // Not O_PATH: fchown needs a real descriptor.
  const fd = openBeneath(dirFd, name, O.RDONLY | O.DIRECTORY);
  try {
    handOver(fd, owner);
  } catch (err) {
    close(fd);
    throw err;
  }
  return fd;
}

/** The parent directories of `parts`' last one, made one by one beneath `root`; its descriptor. */
function openParents(root: number, parts: readonly string[], owner: Owner | undefined): number {
  let dir = root;
  try {
    for (const name of parts.slice(0, -1)) {
      let next: number;
      try {
        next = openBeneath(dir, name, O.PATH | O.DIRECTORY);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
        next = makeDirectory(dir, name, owner);
      }
      if (dir !== root) close(dir);
      dir = next;
    }
    return dir;
  } catch (err) {
    if (dir !== root) close(dir);
    throw err;
  }
}

/**
 * The file `name` in `dirFd`, opened for writing: created exclusively when missing (so only what
 * this write made goes to `owner`), else the existing one. Not truncated yet.
 */
function openTarget(dirFd: number, name: string, append: boolean): { fd: number; made: boolean } {
  const mode = O.WRONLY | (append ? O.APPEND : 0);
  for (let attempt = 0; ; attempt++) {
    try {
      return { fd: openBeneath(dirFd, name, mode | O.CREAT | O.EXCL, 0o644), made: true };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    try {
      return { fd: openBeneath(dirFd, name, mode), made: false };
    } catch (err) {
      // Removed between the two opens: the session is racing us; a few rounds, then give up.
      if (errnoOf(err) !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}

export async function writeWorkspaceFile(
  workspace: string,
  path: string,
  content: string,
  encoding: 'utf8' | 'base64',
  { append, maxBytes, owner }: WriteOptions,
): Promise<{ path: string; size: number }> {
  const rel = workspacePath(workspace, path);
  const bytes = decode(content, encoding);
  const tooBig = (size: number) =>
    new ParameterError(
      `Writing ${bytes.length} bytes would make "${path}" ${size} bytes, above the ` +
        `${maxBytes}-byte file size limit (backends.bash.limits.file_size_mb)`,
    );
  if (bytes.length > maxBytes) throw tooBig(bytes.length);
  const parts = rel.split('/');
  const root = openWorkspace(workspace);
  let dir: number | undefined;
  let fd: number | undefined;
  try {
    dir = openParents(root, parts, owner);
    const target = openTarget(dir, parts.at(-1)!, append);
    fd = target.fd;
    const info = fstatSync(fd);
    if (!info.isFile()) throw notRegular(path, describeType(info));
    if (append && info.size + bytes.length > maxBytes) throw tooBig(info.size + bytes.length);
    if (target.made) handOver(fd, owner);
    // Truncated only now that it is known to be a regular file the write may go to.
    if (!append && !target.made) ftruncateSync(fd, 0);
    for (let done = 0; done < bytes.length;) {
      done += writeSync(fd, bytes, done, bytes.length - done);
    }
    return { path: rel, size: bytes.length };
  } catch (err) {
    throw explain(err, path, 'write');
  } finally {
    if (fd !== undefined) close(fd);
    if (dir !== undefined && dir !== root) close(dir);
    close(root);
  }
}

/**
 * Makes the directory `path` (and its parents) beneath the workspace, never through a symbolic
 * link, each new one given to `owner`: a session's configured start directory.
 */
export function makeWorkspaceDirectory(workspace: string, path: string, owner?: Owner): void {
  const rel = workspacePath(workspace, path);
  if (rel === '.') return;
  const root = openWorkspace(workspace);
  let dir: number | undefined;
  try {
    // openParents makes every component but the last: give it one more, empty, to make them all.
    dir = openParents(root, [...rel.split('/'), ''], owner);
  } catch (err) {
    throw explain(err, path, 'write');
  } finally {
    if (dir !== undefined && dir !== root) close(dir);
    close(root);
  }
}
