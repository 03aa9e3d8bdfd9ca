//! The seccomp filter installed last, right before `execve`: a deny list
//! modelled on Docker's default profile. It stops the system calls that
//! reach kernel surface a converter never needs (mounts, namespaces,
//! ptrace, keyrings, bpf, perf, userfaultfd, io_uring, kexec, modules,
//! file handles, clock and swap control), memory that RLIMIT_AS does not
//! see (memfds, SysV shared memory, message queues, semaphores),
//! namespace-creating `clone`
//! flags, terminal injection ioctls, socket families other than
//! unix/inet/inet6, and every foreign system call ABI.
//!
//! The BPF program is written out here rather than generated: it needs two
//! different error codes (`clone3` answers ENOSYS so libc falls back to
//! `clone`, whose flags a filter can see) and an x32-ABI check. The deny
//! list is searched as a balanced binary tree of system call numbers, not
//! one comparison after another: the kernel evaluates the filter for every
//! system call number when it is installed (to cache the ones always
//! allowed), and that walk is on every run's start-up path.

use super::JailError;

// seccomp_data layout: nr (u32) @0, arch (u32) @4, ip (u64) @8, args[6] (u64) @16.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// Low 32 bits of argument `n` (little-endian targets only).
const fn offset_arg_low(n: u32) -> u32 {
    16 + 8 * n
}

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;

const fn ret_errno(errno: i32) -> u32 {
    RET_ERRNO | (errno as u32 & 0xffff)
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// x32 system calls are x86_64 numbers with this bit set.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Flags of `clone` that create namespaces.
pub const NAMESPACE_CLONE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

/// Terminal ioctls that inject input or reach the console.
pub const DENIED_IOCTLS: [u32; 2] = [libc::TIOCSTI as u32, libc::TIOCLINUX as u32];

/// Socket families the command may open.
pub const ALLOWED_SOCKET_FAMILIES: [u32; 3] = [
    libc::AF_UNIX as u32,
    libc::AF_INET as u32,
    libc::AF_INET6 as u32,
];

/// System calls denied whatever their arguments, with EPERM.
pub fn denied_syscalls() -> Vec<(&'static str, libc::c_long)> {
    let mut list = vec![
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("process_madvise", libc::SYS_process_madvise),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("kcmp", libc::SYS_kcmp),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("fanotify_init", libc::SYS_fanotify_init),
        ("acct", libc::SYS_acct),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("syslog", libc::SYS_syslog),
        ("quotactl", libc::SYS_quotactl),
        ("vhangup", libc::SYS_vhangup),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        // Memory that RLIMIT_AS does not count: memfds and SysV IPC objects
        // live outside the address space (and outside the job tmpfs).
        ("memfd_create", libc::SYS_memfd_create),
        ("memfd_secret", libc::SYS_memfd_secret),
        ("shmget", libc::SYS_shmget),
        ("shmat", libc::SYS_shmat),
        ("shmdt", libc::SYS_shmdt),
        ("shmctl", libc::SYS_shmctl),
        ("msgget", libc::SYS_msgget),
        ("msgsnd", libc::SYS_msgsnd),
        ("msgrcv", libc::SYS_msgrcv),
        ("msgctl", libc::SYS_msgctl),
        ("semget", libc::SYS_semget),
        ("semop", libc::SYS_semop),
        ("semtimedop", libc::SYS_semtimedop),
        ("semctl", libc::SYS_semctl),
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        ("iopl", libc::SYS_iopl),
        ("ioperm", libc::SYS_ioperm),
        ("modify_ldt", libc::SYS_modify_ldt),
        ("uselib", libc::SYS_uselib),
        ("ustat", libc::SYS_ustat),
        ("sysfs", libc::SYS_sysfs),
        ("_sysctl", libc::SYS__sysctl),
        ("create_module", 174),
        ("get_kernel_syms", 177),
        ("query_module", 178),
        ("nfsservctl", libc::SYS_nfsservctl),
    ]);
    list
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The compiled filter, built before the fork so the child only installs it.
pub struct Program(Vec<libc::sock_filter>);

impl Program {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn program() -> Program {
    let mut p = Vec::with_capacity(160);
    // A foreign architecture's numbers mean different calls: kill.
    p.push(stmt(LD_W_ABS, OFFSET_ARCH));
    p.push(jump(JEQ, AUDIT_ARCH, 1, 0));
    p.push(stmt(RET, RET_KILL_PROCESS));
    p.push(stmt(LD_W_ABS, OFFSET_NR));
    #[cfg(target_arch = "x86_64")]
    {
        // The x32 ABI reuses x86_64's audit arch with bit 30 in the number.
        p.push(jump(JGE, X32_SYSCALL_BIT, 0, 1));
        p.push(stmt(RET, ret_errno(libc::EPERM)));
    }
    let mut denied: Vec<u32> = denied_syscalls().iter().map(|(_, nr)| *nr as u32).collect();
    denied.sort_unstable();
    p.extend(deny_tree(&denied));
    // clone3 hides its flags behind a pointer: answer "not implemented" so
    // libc falls back to clone, whose flags are checked below.
    p.push(jump(JEQ, libc::SYS_clone3 as u32, 0, 1));
    p.push(stmt(RET, ret_errno(libc::ENOSYS)));

    p.push(jump(JEQ, libc::SYS_clone as u32, 0, 4));
    p.push(stmt(LD_W_ABS, offset_arg_low(0)));
    p.push(jump(JSET, NAMESPACE_CLONE_FLAGS, 0, 1));
    p.push(stmt(RET, ret_errno(libc::EPERM)));
    p.push(stmt(RET, RET_ALLOW));

    p.push(jump(JEQ, libc::SYS_socket as u32, 0, 6));
    p.push(stmt(LD_W_ABS, offset_arg_low(0)));
    p.push(jump(JEQ, ALLOWED_SOCKET_FAMILIES[0], 3, 0));
    p.push(jump(JEQ, ALLOWED_SOCKET_FAMILIES[1], 2, 0));
    p.push(jump(JEQ, ALLOWED_SOCKET_FAMILIES[2], 1, 0));
    p.push(stmt(RET, ret_errno(libc::EAFNOSUPPORT)));
    p.push(stmt(RET, RET_ALLOW));

    p.push(jump(JEQ, libc::SYS_ioctl as u32, 0, 5));
    p.push(stmt(LD_W_ABS, offset_arg_low(1)));
    p.push(jump(JEQ, DENIED_IOCTLS[0], 2, 0));
    p.push(jump(JEQ, DENIED_IOCTLS[1], 1, 0));
    p.push(stmt(RET, RET_ALLOW));
    p.push(stmt(RET, ret_errno(libc::EPERM)));

    p.push(stmt(RET, RET_ALLOW));
    Program(p)
}

/// Code that returns EPERM when the system call number (in the
/// accumulator) is one of `sorted`, and falls through past its end
/// otherwise: a binary search, a few comparisons deep.
fn deny_tree(sorted: &[u32]) -> Vec<libc::sock_filter> {
    if sorted.len() <= 3 {
        return sorted
            .iter()
            .flat_map(|&nr| [jump(JEQ, nr, 0, 1), stmt(RET, ret_errno(libc::EPERM))])
            .collect();
    }
    let (low, high) = sorted.split_at(sorted.len() / 2);
    let low = deny_tree(low);
    let high_code = deny_tree(high);
    let skip_low = u8::try_from(low.len() + 1).expect("a BPF jump reaches 255 instructions");
    let mut code = vec![jump(JGE, high[0], skip_low, 0)];
    code.extend(low);
    // Not denied on the low side: skip the high side.
    code.push(stmt(JA, high_code.len() as u32));
    code.extend(high_code);
    code
}

/// Installs `program` on the calling thread. Requires `no_new_privs`.
pub fn install(program: &Program) -> Result<(), JailError> {
    let prog = libc::sock_fprog {
        len: program.0.len() as u16,
        filter: program.0.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `program`'s instructions, which outlive the
    // call; the kernel copies the program and keeps no pointer to it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(JailError::Setup(format!(
            "cannot install the seccomp filter: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program() {
        let p = program();
        for (i, insn) in p.0.iter().enumerate() {
            if insn.code & 0x07 == libc::BPF_JMP as u16 {
                assert!(i + 1 + (insn.jt as usize) < p.len(), "jt of {i}");
                assert!(i + 1 + (insn.jf as usize) < p.len(), "jf of {i}");
            }
        }
        assert!(
            p.len() < 4096,
            "BPF programs are capped at 4096 instructions"
        );
        assert_eq!(p.0.last().unwrap().k, RET_ALLOW);
    }

    /// A classic BPF interpreter for the instructions `program` uses.
    fn evaluate(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        run(p, arch, nr, args).0
    }

    /// The verdict and the number of instructions executed.
    fn run(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0usize);
        loop {
            let insn = p.0[pc];
            pc += 1;
            steps += 1;
            match insn.code {
                LD_W_ABS => {
                    let at = insn.k as usize;
                    acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                }
                RET => return (insn.k, steps),
                JA => pc += insn.k as usize,
                JEQ | JGE | JSET => {
                    let taken = match insn.code {
                        JEQ => acc == insn.k,
                        JGE => acc >= insn.k,
                        _ => acc & insn.k != 0,
                    };
                    pc += if taken { insn.jt } else { insn.jf } as usize;
                }
                other => panic!("instruction {other:#x} not understood"),
            }
        }
    }

    #[test]
    fn the_program_denies_exactly_the_denied_calls() {
        let p = program();
        let denied: std::collections::HashSet<u32> =
            denied_syscalls().iter().map(|(_, nr)| *nr as u32).collect();
        let special = [
            libc::SYS_clone3,
            libc::SYS_clone,
            libc::SYS_socket,
            libc::SYS_ioctl,
        ]
        .map(|nr| nr as u32);
        for nr in 0..600u32 {
            let verdict = evaluate(&p, AUDIT_ARCH, nr, [0; 6]);
            if denied.contains(&nr) {
                assert_eq!(verdict, ret_errno(libc::EPERM), "system call {nr}");
            } else if !special.contains(&nr) {
                assert_eq!(verdict, RET_ALLOW, "system call {nr}");
            }
        }
        let clone = libc::SYS_clone as u32;
        assert_eq!(evaluate(&p, AUDIT_ARCH, clone, [0; 6]), RET_ALLOW);
        let new_net = [libc::CLONE_NEWNET as u64, 0, 0, 0, 0, 0];
        assert_eq!(
            evaluate(&p, AUDIT_ARCH, clone, new_net),
            ret_errno(libc::EPERM)
        );
        let clone3 = libc::SYS_clone3 as u32;
        assert_eq!(
            evaluate(&p, AUDIT_ARCH, clone3, [0; 6]),
            ret_errno(libc::ENOSYS)
        );
        let socket = libc::SYS_socket as u32;
        let inet = [libc::AF_INET as u64, 0, 0, 0, 0, 0];
        let netlink = [libc::AF_NETLINK as u64, 0, 0, 0, 0, 0];
        assert_eq!(evaluate(&p, AUDIT_ARCH, socket, inet), RET_ALLOW);
        assert_eq!(
            evaluate(&p, AUDIT_ARCH, socket, netlink),
            ret_errno(libc::EAFNOSUPPORT)
        );
        let ioctl = libc::SYS_ioctl as u32;
        let tiocsti = [0, libc::TIOCSTI, 0, 0, 0, 0];
        assert_eq!(
            evaluate(&p, AUDIT_ARCH, ioctl, tiocsti),
            ret_errno(libc::EPERM)
        );
        assert_eq!(evaluate(&p, AUDIT_ARCH, ioctl, [0; 6]), RET_ALLOW);
        // Another architecture, and x32 numbers.
        assert_eq!(evaluate(&p, 3 | 0x4000_0000, 0, [0; 6]), RET_KILL_PROCESS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            evaluate(&p, AUDIT_ARCH, X32_SYSCALL_BIT | 1, [0; 6]),
            ret_errno(libc::EPERM)
        );
    }

    #[test]
    fn every_system_call_is_judged_in_a_few_dozen_instructions() {
        let p = program();
        let longest = (0..600u32)
            .map(|nr| run(&p, AUDIT_ARCH, nr, [0; 6]).1)
            .max()
            .unwrap();
        // A linear deny list takes over 140 for a call it allows.
        assert!(longest <= 40, "{longest} instructions");
    }

    #[test]
    fn denied_list_has_no_duplicates() {
        let mut nrs: Vec<_> = denied_syscalls().iter().map(|(_, nr)| *nr).collect();
        let n = nrs.len();
        nrs.sort();
        nrs.dedup();
        assert_eq!(n, nrs.len());
    }
}
