//! `texjail jail-run`: runs one command in the jail from the command line,
//! for operators checking a jail and for tests. Prints the outcome as JSON
//! (`--json`, exit 0 whenever the jail ran the command) or passes the
//! command's output through and exits with its code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::jail::{self, JailError, Limits, RunSpec, JAIL_FAILURE_EXIT};

/// Options of `jail-run` beyond the config.
#[derive(Debug, Clone, Default)]
pub struct JailRun {
    pub job: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub timeout_secs: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub slot: u32,
    pub workdir: Option<String>,
    pub env: Vec<(String, String)>,
    pub json: bool,
    pub argv: Vec<String>,
}

/// `texjail jail-run`: the command's exit code (or the jail's failure code).
pub fn run(config: &Config, opts: JailRun) -> ExitCode {
    let code = jail_run(config.rootfs.clone(), &config.jail, opts);
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Runs the command; returns the process exit code.
fn jail_run(rootfs: PathBuf, limits: &Limits, opts: JailRun) -> i32 {
    let exe = match jail::supervisor_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("texjail: cannot find own executable: {e}");
            return JAIL_FAILURE_EXIT;
        }
    };
    let mut limits = limits.clone();
    if let Some(t) = opts.timeout_secs {
        limits.timeout_secs = t;
    }
    if let Some(m) = opts.memory_bytes {
        limits.memory_bytes = m;
    }
    let mut spec = RunSpec::new(exe, rootfs, opts.argv, limits);
    spec.job_in = opts.job;
    spec.job_out = opts.out;
    spec.slot = opts.slot;
    spec.env = opts.env;
    if let Some(dir) = opts.workdir {
        spec.workdir = dir;
    }
    let outcome = match jail::run(&spec) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("texjail: {e}");
            return match e {
                JailError::Spec(_) => 2,
                _ => JAIL_FAILURE_EXIT,
            };
        }
    };
    if opts.json {
        println!(
            "{}",
            serde_json::to_string(&outcome).expect("an outcome serializes")
        );
        return 0;
    }
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    for skipped in &outcome.skipped {
        eprintln!("texjail: skipped {}: {}", skipped.path, skipped.reason);
    }
    eprintln!("{}", outcome.summary());
    outcome.shell_code()
}

/// Parses `KEY=VALUE` for `--env`.
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
