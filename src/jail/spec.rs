//! What to run and under which limits: the value the caller builds and the
//! supervisor receives, serialized as JSON on its stdin.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Limits;

/// Search path for `argv[0]` inside the jail, and the jail's `PATH`.
pub const JAIL_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// The supervisor binary to execute, `texjail-jail` (see
    /// [`super::supervisor_exe`]).
    pub exe: PathBuf,
    /// The toolchain root filesystem, mounted read-only as `/`.
    pub rootfs: PathBuf,
    /// The command; `argv[0]` is resolved through [`JAIL_PATH`] inside the jail.
    pub argv: Vec<String>,
    /// Variables added on top of the clean base environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the jail.
    pub workdir: String,
    /// Host directory whose tree (regular files and directories) is copied into `/job`.
    pub job_in: Option<PathBuf>,
    /// Existing empty host directory receiving `/job` through the copy-out.
    pub job_out: Option<PathBuf>,
    pub limits: Limits,
    /// Concurrency slot: root mode runs it as uid/gid `limits.uid_base + slot`.
    pub slot: u32,
}

impl RunSpec {
    /// A spec with the defaults: workdir `/job`, no files in or out, slot 0.
    pub fn new(exe: PathBuf, rootfs: PathBuf, argv: Vec<String>, limits: Limits) -> RunSpec {
        RunSpec {
            exe,
            rootfs,
            argv,
            env: Vec::new(),
            workdir: "/job".into(),
            job_in: None,
            job_out: None,
            limits,
            slot: 0,
        }
    }
}

/// The clean environment every command starts from; `extra` entries are
/// added after it and win over it.
pub fn environment(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PATH", JAIL_PATH),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("USER", "texjail"),
        ("LOGNAME", "texjail"),
        ("SHELL", "/bin/sh"),
        ("TERM", "dumb"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (key, value) in extra {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    env
}
