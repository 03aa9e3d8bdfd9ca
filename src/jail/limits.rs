//! Resource limits of one jail run: each has a name in the config
//! (`[jail]` section, `TEXJAIL_JAIL_<NAME>`), a default and a test.
//!
//! Defaults are sized for real LaTeX jobs: LaTeXML needs up to 1–2 GiB of
//! address space on big papers, TeX Live's perl and lua drivers spawn
//! dozens of processes, and a paper's figures rarely exceed a few hundred
//! MiB once converted.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::cgroup::CgroupMode;
pub use super::landlock::LandlockMode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit of a run; the whole pid namespace is killed after it.
    pub timeout_secs: u64,
    /// CPU seconds per process (RLIMIT_CPU): SIGXCPU, then SIGKILL a second later.
    pub cpu_secs: u64,
    /// Address-space cap per process (RLIMIT_AS), in bytes.
    pub memory_bytes: u64,
    /// Largest file a process may write (RLIMIT_FSIZE), in bytes.
    pub file_size_bytes: u64,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Processes of the job: the cgroup's `pids.max`, else RLIMIT_NPROC of
    /// the job's uid (per slot because uids are).
    pub processes: u64,
    /// Size of the job tmpfs holding `/job` and `/tmp`, in bytes.
    pub tmpfs_bytes: u64,
    /// Inodes of the job tmpfs (files + directories).
    pub tmpfs_inodes: u64,
    /// Bytes of stdout and of stderr kept (each); the rest is counted and dropped.
    pub output_bytes: u64,
    /// Largest single file the copy-out takes from `/job`.
    pub copy_out_file_bytes: u64,
    /// Total bytes the copy-out takes from `/job`.
    pub copy_out_total_bytes: u64,
    /// Root mode: slot N runs as uid/gid `uid_base + N`.
    pub uid_base: u32,
    /// Hostname inside the jail.
    pub hostname: String,
    /// Also confine each job as a whole with cgroups: "auto" (v1 when root
    /// and its hierarchies exist, else v2 when usable, else none), "off",
    /// "v1" or "v2" (required).
    pub cgroup: CgroupMode,
    /// The cgroupfs root: v1 hierarchies are mounted in its folders
    /// (`memory`, `pids`, `cpuacct`), the v2 hierarchy at it or at its
    /// `unified` folder.
    pub cgroup_root: PathBuf,
    /// Landlock: "auto" (enforce what the kernel can, run either way) or
    /// "required" (a run fails when the kernel enforces none of it).
    pub landlock: LandlockMode,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_secs: 300,
            cpu_secs: 300,
            memory_bytes: 4 << 30,
            file_size_bytes: 256 << 20,
            open_files: 1024,
            processes: 256,
            tmpfs_bytes: 1 << 30,
            tmpfs_inodes: 65_536,
            output_bytes: 1 << 20,
            copy_out_file_bytes: 128 << 20,
            copy_out_total_bytes: 512 << 20,
            uid_base: 200_000,
            hostname: "texjail".into(),
            cgroup: CgroupMode::Auto,
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            landlock: LandlockMode::Auto,
        }
    }
}

impl Limits {
    /// The uid (and gid) slot `slot` runs as.
    pub fn slot_uid(&self, slot: u32) -> u32 {
        self.uid_base.saturating_add(slot)
    }
}
