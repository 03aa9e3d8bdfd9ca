//! Running a user's program in the jail: a run is a job of its own kind,
//! shared by `POST /api/v1/run` and `texjail run`. Data flows one way:
//! a request is validated ([`request`]), its limits are the `[run]`
//! ceilings lowered to what it asked ([`settings`]), it runs in the same
//! jail as the converters (same namespaces, seccomp, landlock, no
//! network) under a launcher that gives it its stdin and saves its open
//! matplotlib figures ([`launcher.py`]), and what it left in `/job` is
//! told apart from its inputs ([`outputs`]) and kept in the result store
//! under the same serving rules as a conversion's files ([`store`]). The
//! answer is one typed value ([`result::RunResult`]).

pub mod environment;
pub mod outputs;
pub mod request;
pub mod result;
pub mod service;
pub mod settings;
pub mod slots;
pub mod store;

use std::path::{Path, PathBuf};

use crate::jail::{self, JailError, Limits, Outcome, RunSpec};
pub use request::{Language, Program, RunRequest};
pub use result::RunResult;
pub use settings::Settings;

/// The launcher every Python run starts in (see the file's header).
const LAUNCHER: &str = include_str!("launcher.py");
/// Where the launcher finds the run's stdin (in `/job`; it unlinks it).
pub const STDIN_NAME: &str = ".texjail-stdin";
/// matplotlib's config directory: in `/tmp`, so its font cache copy is
/// never listed as a file the program wrote.
const MPLCONFIGDIR: &str = "/tmp/.texjail-matplotlib";

/// Why a run produced no result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request itself is wrong (the message names what and why).
    #[error("{0}")]
    BadRequest(String),
    /// The inputs are over a limit; `limit` names its key.
    #[error("the inputs are {bytes} bytes, over the limit of {max_bytes} bytes ({limit})")]
    TooLarge {
        limit: &'static str,
        max_bytes: u64,
        bytes: u64,
    },
    /// The jail could not run the program (not the program's fault).
    #[error("the jail failed: {0}")]
    Jail(#[from] JailError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> RunError {
        RunError::Internal(e.to_string())
    }
}

/// Everything a run needs besides the program: where the jail is, its
/// hardening (`[jail]`), the run's ceilings (`[run]`) and a scratch
/// directory for the files going in and coming out.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The jail's spawner binary (`texjail-jail`).
    pub exe: PathBuf,
    pub rootfs: PathBuf,
    pub jail: Limits,
    pub settings: Settings,
    pub scratch: PathBuf,
}

/// A run that ended: the jail's outcome and what the program wrote.
pub struct Finished {
    pub outcome: Outcome,
    pub limits: Limits,
    /// Files the program left in `/job` (not the inputs as they came).
    pub written: Vec<outputs::Written>,
    /// The copy-out: `written` are files in it. Removed on drop.
    pub out: tempfile::TempDir,
}

impl Runner {
    /// A runner of `config`'s jail, with `exe` the `texjail` binary.
    pub fn new(config: &crate::config::Config, exe: &Path, scratch: PathBuf) -> Runner {
        Runner {
            exe: jail::supervisor_beside(exe),
            rootfs: config.rootfs.clone(),
            jail: config.jail.clone(),
            settings: config.run.clone(),
            scratch,
        }
    }

    /// The spec of a run of `program` in run slot `slot` whose files are
    /// in `job_in` and come back to `job_out`.
    fn spec(&self, program: &Program, slot: u32, job_in: &Path, job_out: &Path) -> RunSpec {
        let Language::Python = program.language;
        let mut argv: Vec<String> = ["python3", "-I", "-B", "-u", "-c", LAUNCHER]
            .map(String::from)
            .to_vec();
        argv.push(program.main_file().to_string());
        argv.extend(program.args.iter().cloned());
        let limits = self.settings.limits(&self.jail, program.asked);
        let mut spec = RunSpec::new(self.exe.clone(), self.rootfs.clone(), argv, limits);
        spec.slot = slot;
        spec.job_in = Some(job_in.to_path_buf());
        spec.job_out = Some(job_out.to_path_buf());
        spec.env = [
            ("MPLBACKEND", "Agg"),
            ("MPLCONFIGDIR", MPLCONFIGDIR),
            // One thread per numerical library: a run gets one slot's
            // share of the CPUs, and each thread costs address space.
            ("OPENBLAS_NUM_THREADS", "1"),
            ("OMP_NUM_THREADS", "1"),
            ("MKL_NUM_THREADS", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        spec
    }

    /// Runs `program` in run slot `slot` (its uid is `run.uid_base +
    /// slot`) and waits for it. Blocking.
    pub fn run(&self, program: &Program, slot: u32) -> Result<Finished, RunError> {
        std::fs::create_dir_all(&self.scratch)?;
        let job_in = tempfile::Builder::new()
            .prefix("run-in-")
            .tempdir_in(&self.scratch)?;
        for (name, bytes) in &program.files {
            let path = job_in.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)?;
        }
        if !program.stdin.is_empty() {
            std::fs::write(job_in.path().join(STDIN_NAME), &program.stdin)?;
        }
        let out = tempfile::Builder::new()
            .prefix("run-out-")
            .tempdir_in(&self.scratch)?;
        let spec = self.spec(program, slot, job_in.path(), out.path());
        let outcome = jail::run(&spec)?;
        drop(job_in);
        let written = outputs::written(&outcome, out.path(), program);
        Ok(Finished {
            outcome,
            limits: spec.limits,
            written,
            out,
        })
    }
}
