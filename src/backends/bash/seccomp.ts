// The seccomp filter a sandboxed session runs under: it may not create user namespaces (unshare or
// clone with CLONE_NEWUSER; clone3 answers ENOSYS so libc falls back to clone, whose flags can be
// checked). A user namespace is where most kernel privilege escalations start, and inside one a
// session would hold capabilities over mounts of its own. Everything else is allowed: the rest of
// the sandbox is namespaces, an unprivileged uid and rlimits.
import { arch } from 'node:process';

/** Per architecture: the audit arch value and the syscall numbers the filter looks at. */
const ARCHES: Record<string, { audit: number; unshare: number; clone: number; clone3: number }> = {
  x64: { audit: 0xc000003e, unshare: 272, clone: 56, clone3: 435 },
  arm64: { audit: 0xc00000b7, unshare: 97, clone: 220, clone3: 435 },
};

const LD_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET = 0x06; // BPF_RET | BPF_K
const ALLOW = 0x7fff0000;
const ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
/** x32 syscalls on x86_64 carry this bit; they would bypass the numbers below. */
const X32_BIT = 0x40000000;

/** The filter as the raw `struct sock_filter[]` bubblewrap's `--seccomp FD` reads. */
export function userNamespaceFilter(cpu: string = arch): Buffer | undefined {
  const a = ARCHES[cpu];
  if (!a) return undefined;
  // [code, jt, jf, k]; jumps count instructions from the next one.
  const program: [number, number, number, number][] = [
    [LD_ABS, 0, 0, 4], //                    0: A = arch
    [JEQ, 0, 9, a.audit], //                 1: a foreign arch (32-bit calls) → EPERM
    [LD_ABS, 0, 0, 0], //                    2: A = syscall number
    [JGE, 7, 0, X32_BIT], //                 3: x32 → EPERM
    [JEQ, 3, 0, a.unshare], //               4: unshare → check flags
    [JEQ, 2, 0, a.clone], //                 5: clone → check flags
    [JEQ, 5, 0, a.clone3], //                6: clone3 → ENOSYS
    [RET, 0, 0, ALLOW], //                   7
    [LD_ABS, 0, 0, 16], //                   8: A = low word of the first argument (flags)
    [JSET, 1, 0, CLONE_NEWUSER], //          9: a new user namespace → EPERM
    [RET, 0, 0, ALLOW], //                  10
    [RET, 0, 0, ERRNO | EPERM], //          11
    [RET, 0, 0, ERRNO | ENOSYS], //         12
  ];
  const out = Buffer.alloc(program.length * 8);
  program.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}
