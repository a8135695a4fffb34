// Open a path beneath a directory fd without following any symbolic link, with Linux openat2(2)
// called through bun:ffi (glibc has no wrapper for it): the only way the file tools touch paths a
// session controls. No fallback: without openat2 the file tools are refused.
import { dlopen, FFIType, read } from 'bun:ffi';
import { constants as fs } from 'node:fs';
import { constants as os } from 'node:os';
import { BackendError } from '../../core/errors.ts';

/** open(2) flags; O_PATH and O_CLOEXEC are not in node's table (the same on x86_64 and arm64). */
export const O = {
  RDONLY: fs.O_RDONLY,
  WRONLY: fs.O_WRONLY,
  CREAT: fs.O_CREAT,
  EXCL: fs.O_EXCL,
  APPEND: fs.O_APPEND,
  DIRECTORY: fs.O_DIRECTORY,
  PATH: 0o10000000,
} as const;
const O_CLOEXEC = 0o2000000;

/** openat2(2) is 437 in the table every architecture shares since Linux 5.1 (alpha aside). */
const SYS_OPENAT2 = 437;
const AT_FDCWD = -100;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
/** Never block the event loop on a FIFO, never gain a controlling terminal, never leak to children. */
const ALWAYS = fs.O_NONBLOCK | fs.O_NOCTTY | O_CLOEXEC;

const ERRNO_NAMES = new Map(Object.entries(os.errno).map(([name, n]) => [n, name]));

/** A failed system call, shaped like node's fs errors (`code` is the errno name). */
export class SystemCallError extends Error {
  readonly code: string;
  constructor(
    readonly call: string,
    errno: number,
  ) {
    const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
    super(`${call}: ${code}`);
    this.code = code;
  }
}

const LIBC = ['libc.so.6', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`];

function load() {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
    throw new Error(`it needs Linux on x86_64 or arm64, not ${process.platform}/${process.arch}`);
  }
  const symbols = {
    // syscall(2) is variadic; glibc's and musl's only move registers, so a fixed prototype works.
    syscall: {
      args: [FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.ptr, FFIType.u64],
      returns: FFIType.i32,
    },
    mkdirat: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  } as const;
  let lastError: unknown;
  for (const name of LIBC) {
    try {
      return dlopen(name, symbols).symbols;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`libc could not be loaded (${String(lastError)})`);
}

let libc: ReturnType<typeof load> | undefined;
let unavailable: string | undefined;

function unsupported(reason: string): BackendError {
  return new BackendError(
    `bash:read_file and bash:write_file are off on this server: ${reason}. They open files only ` +
      'with openat2(2) (Linux 5.6 or later, allowed by the seccomp profile of Docker 20.10 or ' +
      'later) so that no symbolic link is ever followed; use bash:run (cat, tee) meanwhile.',
  );
}

function native(): ReturnType<typeof load> {
  if (libc) return libc;
  if (unavailable === undefined) {
    try {
      return (libc = load());
    } catch (err) {
      unavailable = (err as Error).message;
    }
  }
  throw unsupported(unavailable);
}

/** errno of the call just made: read at once, before anything else can touch it. */
function errno(): number {
  return read.i32(native().__errno_location()!, 0);
}

const cString = (s: string) => Buffer.from(s + '\0');

function openat2(
  dirFd: number,
  path: string,
  flags: number,
  mode: number,
  resolve: number,
): number {
  // openat2 refuses O_PATH with any flag it ignores (EINVAL), and an O_PATH open never blocks.
  const extra = flags & O.PATH ? O_CLOEXEC : ALWAYS;
  const how = new BigUint64Array([BigInt(flags | extra), BigInt(mode), BigInt(resolve)]);
  const c = native();
  const fd = c.syscall(SYS_OPENAT2, dirFd, cString(path), how, how.byteLength);
  if (fd >= 0) return fd;
  const e = errno();
  if (e === os.errno.ENOSYS) {
    unavailable = 'this kernel has no openat2(2)';
    throw unsupported(unavailable);
  }
  throw new SystemCallError('openat2', e);
}

/**
 * A directory the server made (a workspace root), as an O_PATH descriptor to resolve beneath. Its
 * last component must not be a symbolic link.
 */
export function openDirectory(path: string): number {
  try {
    return openat2(AT_FDCWD, path, O.PATH | O.DIRECTORY | fs.O_NOFOLLOW, 0, 0);
  } catch (err) {
    // An O_PATH open needs no permission on the file itself: EPERM is a seccomp filter (older
    // container runtimes' default profiles) refusing a system call it does not know.
    if (err instanceof SystemCallError && err.code === 'EPERM') {
      unavailable = 'openat2(2) is blocked here (EPERM), by a seccomp profile most likely';
      throw unsupported(unavailable);
    }
    throw err;
  }
}

/**
 * Opens `path` (relative, no `..` needed) beneath `dirFd`: any symbolic link on the way, the last
 * component included, fails with ELOOP, an escape with EXDEV. O_NONBLOCK, O_NOCTTY and O_CLOEXEC
 * are always added (O_CLOEXEC alone to O_PATH).
 */
export function openBeneath(dirFd: number, path: string, flags: number, mode = 0): number {
  return openat2(
    dirFd,
    path,
    flags,
    mode,
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  );
}

/** mkdirat(2) of one component `name` in `dirFd` (an existing name, symlink or not, is EEXIST). */
export function makeDirectoryAt(dirFd: number, name: string, mode: number): void {
  if (native().mkdirat(dirFd, cString(name), mode) !== 0) {
    throw new SystemCallError('mkdirat', errno());
  }
}
