//! `texjail run`: runs a Python program in the jail from the terminal,
//! the same run `POST /api/v1/run` makes. Passes the program's output
//! through and exits with its code (124 on timeout, 128 + signal on a
//! signal), or prints the API's JSON answer (`--json`, exit 0 whenever
//! the program ran). Exit 2 for a request the run refuses, 3 when the
//! jail failed. The files the program wrote are copied to `--out`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;

use crate::config::Config;
use crate::jail::JAIL_FAILURE_EXIT;
use crate::run::request::{Encoding, FileIn};
use crate::run::result::RunResult;
use crate::run::store::KeptFile;
use crate::run::{RunError, RunRequest, Runner};

/// Options of `texjail run`.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub script: PathBuf,
    pub files: Vec<PathBuf>,
    pub stdin: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub timeout_secs: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub json: bool,
    pub args: Vec<String>,
}

pub fn run(config: &Config, opts: Run) -> ExitCode {
    let code = match run_program(config, &opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("texjail: {e}");
            match e {
                RunError::BadRequest(_) | RunError::TooLarge { .. } => 2,
                _ => JAIL_FAILURE_EXIT,
            }
        }
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// A file given on the command line, named in `/job` by its own name.
fn file_in(path: &Path) -> Result<FileIn, RunError> {
    let bytes = std::fs::read(path)
        .map_err(|e| RunError::BadRequest(format!("{}: {e}", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(FileIn {
        name,
        content: base64::engine::general_purpose::STANDARD.encode(bytes),
        encoding: Encoding::Base64,
    })
}

fn run_program(config: &Config, opts: &Run) -> Result<i32, RunError> {
    let mut files = vec![file_in(&opts.script)?];
    for path in &opts.files {
        files.push(file_in(path)?);
    }
    let stdin = match &opts.stdin {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| RunError::BadRequest(format!("{}: {e}", path.display())))?;
            String::from_utf8(bytes).map_err(|_| {
                RunError::BadRequest(format!("{}: stdin must be UTF-8", path.display()))
            })?
        }
        None => String::new(),
    };
    let program = RunRequest {
        language: "python".into(),
        files,
        stdin,
        args: opts.args.clone(),
        timeout_secs: opts.timeout_secs,
        memory_bytes: opts.memory_bytes,
    }
    .validate(&config.run)?;
    let exe = std::env::current_exe()?;
    let runner = Runner::new(config, &exe, std::env::temp_dir());
    let finished = runner.run(&program, 0)?;
    let mut kept = Vec::new();
    for file in &finished.written {
        let copied = match &opts.out {
            Some(dir) => copy_out(&file.path, &dir.join(&file.name))
                .map_err(|e| RunError::Internal(format!("--out {}: {e}", dir.display())))?,
            None => false,
        };
        kept.push(KeptFile {
            name: file.name.clone(),
            bytes: file.bytes,
            url: None,
            mime: copied
                .then(|| crate::run::outputs::image_mime(&file.name))
                .flatten(),
        });
    }
    let skipped = finished.outcome.skipped.clone();
    let result = RunResult::new(finished.outcome, kept);
    if opts.json {
        // A closed stdout (`| head`) is not an error of the run.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string(&result).expect("a result serializes")
        );
        return Ok(0);
    }
    let _ = std::io::stdout().write_all(result.stdout.as_bytes());
    let _ = std::io::stderr().write_all(result.stderr.as_bytes());
    for s in &skipped {
        eprintln!("texjail: not taken from /job: {}: {}", s.path, s.reason);
    }
    if let Some(limit) = result.limit {
        eprintln!(
            "texjail: the run hit a limit: {}",
            serde_json::to_string(&limit).unwrap_or_default()
        );
    }
    if opts.out.is_none() && !result.files.is_empty() {
        eprintln!(
            "texjail: the program wrote {} file(s); --out DIR keeps them",
            result.files.len()
        );
    }
    Ok(result.shell_code())
}

/// Copies a written file to `dest`, never over an existing file.
fn copy_out(src: &Path, dest: &Path) -> std::io::Result<bool> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut from = std::fs::File::open(src)?;
    let mut to = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(dest)?;
    std::io::copy(&mut from, &mut to)?;
    Ok(true)
}
