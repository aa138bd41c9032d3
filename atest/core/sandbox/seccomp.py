"""The sandbox's syscall filter: a seccomp BPF program of our own, standard library only.

Installed last in every process that runs programs (the fork server's worker once its
namespaces and shared limits are in place, so every child it forks inherits it; the
`subprocess` provider's harness after its limits), so a program cannot take it off:
filters are inherited by every thread and child and can only be made stricter. It denies what a test program never needs and what widens its
reach into the kernel: debugging other processes, mounts and new namespaces, the key
store, eBPF and perf, userfaultfd and io_uring, kernel modules and kexec, reading other
processes' memory, changing the execution domain, swap, reboot and the like. A denied
call fails with EPERM (the program sees an ordinary error, and the verdict is whatever it
does next); `clone` asking for a new namespace fails the same way, `clone3` (whose flags
a filter cannot read) answers ENOSYS so that libc falls back to `clone`. A call through
another ABI (32-bit `int 0x80`, x32) would bypass the numbers below, so it kills the
process (SIGSYS: a runtime error).

Why not libseccomp: the worker runs with `-I -S` and the standard library only, and a
binding (Debian's python3-seccomp, PyPI's pyseccomp) is one more thing a fresh machine
must have; the program is 60-odd instructions, built once per worker and checked by
`tests/test_sandbox_seccomp.py`. Only x86_64 is supported: elsewhere `program()` returns
None and the sandbox runs without the filter (the worker's layers say so).
"""

import ctypes
import errno
import os
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl)
DENIED_X86_64 = {
    "personality": 135,
    "uselib": 134,
    "ptrace": 101,
    "syslog": 103,
    "vhangup": 153,
    "pivot_root": 155,
    "_sysctl": 156,
    "chroot": 161,
    "acct": 163,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "create_module": 174,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "nfsservctl": 180,
    "lookup_dcookie": 212,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "kexec_load": 246,
    "unshare": 272,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "mount_setattr": 442,
    "quotactl_fd": 443,
}
CLONE_X86_64, CLONE3_X86_64 = 56, 435
# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NAMESPACES = (
    0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)

# classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h)
LD_ABS_W = 0x20
JEQ_K, JGE_K, JSET_K = 0x15, 0x35, 0x45
RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data, little-endian
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
INSTRUCTION = struct.Struct("<HBBI")  # struct sock_filter: code, jt, jf, k


def _assemble(lines: list) -> bytes:
    """Instructions with symbolic forward jumps: ("label", name) marks a place; a jump's
    jt/jf is a label name or 0 (fall through)."""
    places, index = {}, 0
    for line in lines:
        if line[0] == "label":
            places[line[1]] = index
        else:
            index += 1
    out, index = [], 0
    for line in lines:
        if line[0] == "label":
            continue
        code, jt, jf, k = line
        offsets = []
        for target in (jt, jf):
            offset = 0 if target == 0 else places[target] - index - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"jump to {target} out of range")
            offsets.append(offset)
        out.append(INSTRUCTION.pack(code, offsets[0], offsets[1], k))
        index += 1
    return b"".join(out)


def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture as raw `sock_filter` bytes, or None
    where it is not supported (anything but x86_64)."""
    if (machine or os.uname().machine) != "x86_64":
        return None
    lines: list = [
        (LD_ABS_W, 0, 0, OFFSET_ARCH),
        (JEQ_K, 0, "kill", AUDIT_ARCH_X86_64),
        (LD_ABS_W, 0, 0, OFFSET_NR),
        (JGE_K, "kill", 0, X32_SYSCALL_BIT),
        (JEQ_K, "clone", 0, CLONE_X86_64),
        (JEQ_K, "nosys", 0, CLONE3_X86_64),
    ]
    lines += [(JEQ_K, "deny", 0, number) for number in sorted(DENIED_X86_64.values())]
    lines += [
        (RET_K, 0, 0, RET_ALLOW),
        ("label", "clone"),
        (LD_ABS_W, 0, 0, OFFSET_ARG0),
        (JSET_K, "deny", 0, CLONE_NAMESPACES),
        (RET_K, 0, 0, RET_ALLOW),
        ("label", "deny"),
        (RET_K, 0, 0, RET_ERRNO | errno.EPERM),
        ("label", "nosys"),
        (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        ("label", "kill"),
        (RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    return _assemble(lines)


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(code: bytes, libc=None) -> None:
    """Confine this process (and everything it starts) with the filter `code`, for good.

    Sets no_new_privs first, which the kernel requires of a process without CAP_SYS_ADMIN.
    """
    libc = libc or ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _Fprog(len(code) // INSTRUCTION.size, ctypes.cast(buffer, ctypes.c_void_p))
    for args in (
        (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
    ):
        if libc.prctl(*(ctypes.c_ulong(a) for a in args)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp filter: prctl: {os.strerror(err)}")
