//! The seccomp filter of every workspace: an allowlist in the OCI runtime spec's format, at least
//! as tight as the default profile of Docker and containerd, and tighter where it costs a bot
//! nothing (no `io_uring`, whose many kernel bugs made Docker drop it from its own default later).
//!
//! Everything not listed fails with `EPERM`. Not listed, among others: user namespaces and the
//! other namespace calls (`unshare`, `setns`, `clone` with a namespace flag), `mount` and the new
//! mount API, `keyctl`/`add_key`/`request_key` (the kernel keyring is not namespaced), `bpf`,
//! `perf_event_open`, `userfaultfd`, kernel modules, `kexec_*`, `reboot`, clock and swap changes,
//! `open_by_handle_at` (the "shocker" escape) and `io_uring_*`. `ptrace` stays allowed for
//! debuggers inside: the pid namespace keeps every process outside the container out of reach.

use serde_json::{json, Value};

/// Calls any process may make: file, memory, process, signal, time, socket and IPC calls that
/// act only on what the caller already owns.
const ALLOWED: &[&str] = &[
    // files and directories
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "setxattr",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    "fanotify_mark",
    "memfd_create",
    "memfd_secret",
    // asynchronous I/O (the old interface; io_uring stays out)
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioprio_get",
    "ioprio_set",
    // memory
    "brk",
    "madvise",
    "membarrier",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
    // processes, threads and scheduling
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "vfork",
    "futex",
    "futex_time64",
    "futex_waitv",
    "get_robust_list",
    "set_robust_list",
    "get_thread_area",
    "set_thread_area",
    "set_tid_address",
    "getcpu",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "getuid",
    "getuid32",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "rseq",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setuid",
    "setuid32",
    "ugetrlimit",
    "uname",
    "sysinfo",
    "times",
    "wait4",
    "waitid",
    "waitpid",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    // signals
    "kill",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "restart_syscall",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "tgkill",
    "tkill",
    // time and timers (reading clocks; setting them needs CAP_SYS_TIME, which nobody has)
    "alarm",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "setitimer",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    // waiting on descriptors
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "_newselect",
    "pipe",
    "pipe2",
    "ioctl",
    // sockets (creating one is filtered below)
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
    // System V and POSIX IPC (namespaced by the container's IPC namespace)
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    // needs CAP_SYS_CHROOT, which workspaces keep (package scripts use it)
    "chroot",
];

/// The namespace flags of `clone` (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
/// NEWNET): a `clone` with any of them is refused.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `AF_VSOCK`: a way out to the hypervisor that no workspace needs.
const AF_VSOCK: u64 = 40;
/// The `personality` values programs use (Linux, and 32-bit or no-randomisation variants).
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
const ENOSYS: u32 = 38;

/// The seccomp section of the spec for the architecture Berth runs on.
pub fn profile() -> Value {
    let mut rules = vec![json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"})];
    for p in PERSONALITIES {
        rules.push(json!({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}]
        }));
    }
    rules.push(json!({
        "names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]
    }));
    rules.push(json!({
        "names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": clone_flags_index(), "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                  "op": "SCMP_CMP_MASKED_EQ"}]
    }));
    // clone3 passes its flags in memory, which seccomp cannot read: refuse it with ENOSYS so
    // that the C library falls back to clone, which is filtered above.
    rules.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}));
    rules.extend(arch_rules());
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": architectures(),
        "syscalls": rules
    })
}

fn architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        _ => vec![],
    }
}

fn arch_rules() -> Vec<Value> {
    match std::env::consts::ARCH {
        "x86_64" => {
            vec![json!({"names": ["arch_prctl", "modify_ldt"], "action": "SCMP_ACT_ALLOW"})]
        }
        "aarch64" => vec![json!({
            "names": ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                      "cacheflush", "set_tls"],
            "action": "SCMP_ACT_ALLOW"
        })],
        _ => vec![],
    }
}

/// `clone`'s flags are its first argument everywhere Berth runs (s390 swaps the first two).
fn clone_flags_index() -> u32 {
    if std::env::consts::ARCH == "s390x" {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &Value) -> Vec<String> {
        p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap().iter())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn refuses_what_a_bot_must_not_do() {
        let p = profile();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed = allowed(&p);
        for call in [
            "unshare",
            "setns",
            "mount",
            "umount2",
            "fsopen",
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "perf_event_open",
            "io_uring_setup",
            "io_uring_enter",
            "userfaultfd",
            "init_module",
            "kexec_load",
            "reboot",
            "swapon",
            "open_by_handle_at",
            "clock_settime",
            "settimeofday",
            "pivot_root",
            "acct",
            "syslog",
            "lookup_dcookie",
            "quotactl",
        ] {
            assert!(
                !allowed.contains(&call.to_string()),
                "{call} must not be allowed"
            );
        }
        for call in [
            "read",
            "openat2",
            "renameat2",
            "execve",
            "kill",
            "ptrace",
            "chroot",
        ] {
            assert!(
                allowed.contains(&call.to_string()),
                "{call} must be allowed"
            );
        }
        let clone = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["value"], CLONE_NAMESPACE_FLAGS);
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        let clone3 = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "clone3")
            .unwrap();
        assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn every_name_once() {
        let mut names: Vec<&str> = ALLOWED.to_vec();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a syscall is listed twice");
    }
}
