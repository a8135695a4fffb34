// The seccomp filter a sandboxed session runs under. It may not create user namespaces (unshare
// or clone with CLONE_NEWUSER; clone3 answers ENOSYS so libc falls back to clone, whose flags can
// be checked): a user namespace is where most kernel privilege escalations start, and inside one a
// session would hold capabilities over mounts of its own. Nor may it use the kernel's keyrings
// (add_key, request_key, keyctl): a uid's keyring outlives its session, so a later session given
// the same uid could read what an earlier one left there. 32-bit and x32 calls, which would get
// around these numbers, are refused. Everything else is allowed: the rest of the sandbox is
// namespaces, an unprivileged uid, cgroups and rlimits.
import { arch } from 'node:process';

interface Numbers {
  audit: number;
  unshare: number;
  clone: number;
  clone3: number;
  refused: number[];
}

/** Per architecture: the audit arch value and the syscall numbers the filter looks at. */
const ARCHES: Record<string, Numbers> = {
  x64: { audit: 0xc000003e, unshare: 272, clone: 56, clone3: 435, refused: [248, 249, 250] },
  arm64: { audit: 0xc00000b7, unshare: 97, clone: 220, clone3: 435, refused: [217, 218, 219] },
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

type Label = 'flags' | 'eperm' | 'enosys';
/** One instruction: `to` is where a jump goes on a match, `miss` where it goes on none (else it
 * falls through); `at` labels the instruction. */
type Step = { code: number; k: number; to?: Label; miss?: Label; at?: Label };

/** The filter as the raw `struct sock_filter[]` bubblewrap's `--seccomp FD` reads. */
export function sessionFilter(cpu: string = arch): Buffer | undefined {
  const a = ARCHES[cpu];
  if (!a) return undefined;
  const steps: Step[] = [
    { code: LD_ABS, k: 4 }, // A = arch
    { code: JEQ, k: a.audit, miss: 'eperm' }, // a foreign arch (32-bit calls)
    { code: LD_ABS, k: 0 }, // A = syscall number
    { code: JGE, k: X32_BIT, to: 'eperm' },
    { code: JEQ, k: a.unshare, to: 'flags' },
    { code: JEQ, k: a.clone, to: 'flags' },
    { code: JEQ, k: a.clone3, to: 'enosys' },
    ...a.refused.map((nr): Step => ({ code: JEQ, k: nr, to: 'eperm' })),
    { code: RET, k: ALLOW },
    { code: LD_ABS, k: 16, at: 'flags' }, // A = low word of the first argument (flags)
    { code: JSET, k: CLONE_NEWUSER, to: 'eperm' },
    { code: RET, k: ALLOW },
    { code: RET, k: ERRNO | EPERM, at: 'eperm' },
    { code: RET, k: ERRNO | ENOSYS, at: 'enosys' },
  ];
  const where = new Map(steps.flatMap((s, i) => (s.at ? [[s.at, i] as const] : [])));
  const out = Buffer.alloc(steps.length * 8);
  steps.forEach((s, i) => {
    const jt = s.to ? where.get(s.to)! - i - 1 : 0;
    const jf = s.miss ? where.get(s.miss)! - i - 1 : 0;
    out.writeUInt16LE(s.code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(s.k >>> 0, i * 8 + 4);
  });
  return out;
}
