//! `texjail convert PROJECT -o OUTDIR`: one job from the command line.
//!
//! Exit codes (documented in `docs/converters.md`): 0 converted, 1
//! conversion failed (no converter produced a page, or time ran out), 2 bad
//! input (unreadable project, rejected archive, no main file), 3 jail or
//! internal error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tempfile::TempDir;

use crate::cache::Cache;
use crate::config::Config;
use crate::convert::diagnostics::Severity;
use crate::convert::{Converter, Options};
use crate::job::{self, Context, Details, FailedAttempts, Input, JobError, JobResult, Stage};

pub const EXIT_CONVERTED: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_INTERNAL: u8 = 3;

/// The flags of `texjail convert`.
#[derive(Debug, Clone)]
pub struct Request {
    pub project: PathBuf,
    pub out_dir: PathBuf,
    pub converter: Converter,
    pub main: Option<String>,
    pub timeout: Option<Duration>,
    pub json: bool,
    pub no_cache: bool,
    /// Execute a notebook's cells before rendering it (`--execute`).
    pub execute: Option<crate::job::Execute>,
}

/// The exit code a job error maps to.
pub fn exit_code(err: &JobError) -> u8 {
    match err {
        JobError::BadArchive(_) | JobError::NoMainFile(_) | JobError::BadNotebook(_) => {
            EXIT_BAD_INPUT
        }
        JobError::ConversionFailed { .. }
        | JobError::Timeout { .. }
        | JobError::PageRefused { .. } => EXIT_FAILED,
        JobError::Cancelled | JobError::Internal(_) => EXIT_INTERNAL,
    }
}

/// Runs the command; prints the outcome (JSON with `--json`) on stdout.
pub fn run(config: Config, request: &Request) -> ExitCode {
    ExitCode::from(match execute(config, request) {
        Ok(result) => {
            report_success(request, &result);
            EXIT_CONVERTED
        }
        Err(Failure {
            code,
            error,
            message,
            details,
        }) => {
            if request.json {
                let body = serde_json::json!({
                    "error": error,
                    "message": message.clone(),
                    "details": details,
                });
                println!("{body}");
            }
            eprintln!("texjail convert: {message}");
            for line in explain(&details) {
                eprintln!("  {line}");
            }
            code
        }
    })
}

/// Most diagnostics a failed conversion prints on the terminal (all are
/// in `--json`'s `details`).
const MAX_PRINTED_DIAGNOSTICS: usize = 8;

/// What a person at a terminal needs to act on a failed conversion: why
/// each converter's attempt ended, then the first errors with their file
/// and line.
fn explain(details: &Details) -> Vec<String> {
    let mut lines: Vec<String> = details
        .attempts()
        .iter()
        .map(|a| format!("{}: {}", a.converter, a.reason))
        .collect();
    let errors = details
        .diagnostics()
        .iter()
        .filter(|d| matches!(d.severity, Severity::Error | Severity::Fatal));
    for d in errors.take(MAX_PRINTED_DIAGNOSTICS) {
        let place = match (&d.file, d.line) {
            (Some(file), Some(line)) => format!("{file}:{line}: "),
            (Some(file), None) => format!("{file}: "),
            _ => String::new(),
        };
        lines.push(format!("{place}{}", d.message));
    }
    lines
}

struct Failure {
    code: u8,
    error: &'static str,
    message: String,
    details: Details,
}

impl Failure {
    fn bad_input(message: String) -> Failure {
        Failure {
            code: EXIT_BAD_INPUT,
            error: "bad_input",
            message,
            details: Details::None,
        }
    }
    fn internal(message: String) -> Failure {
        Failure {
            code: EXIT_INTERNAL,
            error: "internal",
            message,
            details: Details::None,
        }
    }
}

fn execute(config: Config, request: &Request) -> Result<JobResult, Failure> {
    let (input, implied_main, staging) = input_for(&request.project)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find the texjail binary: {e}")))?;
    let mut ctx = Context::open(config, exe).map_err(|e| Failure::internal(e.to_string()))?;
    // --no-cache: a private, throw-away store (and no memory of failed
    // attempts); the job runs as on a miss.
    let private_cache = if request.no_cache {
        let dir = tempfile::tempdir_in(&ctx.config.data_dir)
            .map_err(|e| Failure::internal(format!("temp dir: {e}")))?;
        ctx.cache = Cache::open(dir.path(), u64::MAX)
            .map_err(|e| Failure::internal(format!("temp cache: {e}")))?;
        ctx.failed = FailedAttempts::open(dir.path());
        Some(dir)
    } else {
        None
    };
    let options = Options {
        converter: request.converter,
        main: request.main.clone().or(implied_main),
        timeout: request.timeout,
        preview: false,
        execute: request.execute,
    };
    let show_progress = std::io::stderr().is_terminal();
    let progress = move |stage: Stage| {
        if show_progress {
            let line = match stage {
                Stage::Unpacking => "unpacking".to_string(),
                Stage::CacheHit => "cache hit".to_string(),
                Stage::Converting { converter, pass } => format!("{converter}: {pass}"),
                Stage::Sanitizing => "sanitizing".to_string(),
                Stage::Preview(preview) => format!("preview by {}", preview.converter),
                Stage::Storing => "storing".to_string(),
            };
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K[texjail] {line}");
            let _ = err.flush();
        }
    };
    let cancel = AtomicBool::new(false);
    let outcome = job::run_job(
        &ctx,
        &input,
        &options,
        job::Slots::only(0),
        &progress,
        &cancel,
    );
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    let result = outcome.map_err(|e| job_failure(&e))?;
    tracing::debug_span!("deliver")
        .in_scope(|| deliver(&result.dir, &request.out_dir, private_cache.is_some()))
        .map_err(|e| {
            Failure::internal(format!("cannot write {}: {e}", request.out_dir.display()))
        })?;
    tracing::debug_span!("cleanup").in_scope(|| drop((private_cache, staging)));
    Ok(result)
}

fn job_failure(err: &JobError) -> Failure {
    Failure {
        code: exit_code(err),
        error: err.code().name(),
        message: err.to_string(),
        details: err.details(),
    }
}

fn report_success(request: &Request, result: &JobResult) {
    if request.json {
        println!(
            "{}",
            serde_json::to_string(result).unwrap_or_else(|_| "{}".into())
        );
        return;
    }
    let s = &result.summary;
    println!(
        "{}: {} by {} in {} ms{} — {} math, {} images → {}",
        request.project.display(),
        s.status.name(),
        s.converter,
        result.timings_ms.total_ms,
        if result.cache_hit { " (cached)" } else { "" },
        s.math_count,
        s.image_count,
        request.out_dir.join("index.html").display()
    );
}

/// The job input for PROJECT: a directory, an archive, or a lone `.tex`
/// file (staged into a temporary directory of its own, returned with it;
/// it is then the main file).
fn input_for(project: &Path) -> Result<(Input, Option<String>, Option<TempDir>), Failure> {
    let meta = std::fs::metadata(project)
        .map_err(|e| Failure::bad_input(format!("cannot read {}: {e}", project.display())))?;
    if meta.is_dir() {
        return Ok((Input::Directory(project.to_path_buf()), None, None));
    }
    let name = project
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tex") {
        let staging =
            tempfile::tempdir().map_err(|e| Failure::internal(format!("temp dir: {e}")))?;
        let dir = staging.path().join("project");
        std::fs::create_dir_all(&dir).map_err(|e| Failure::internal(e.to_string()))?;
        std::fs::copy(project, dir.join(&name))
            .map_err(|e| Failure::bad_input(format!("cannot read {}: {e}", project.display())))?;
        return Ok((Input::Directory(dir), Some(name), Some(staging)));
    }
    // A notebook is an upload like an archive: told by its content.
    if [".zip", ".tar.gz", ".tgz", ".ipynb"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return Ok((
            Input::Archive {
                path: project.to_path_buf(),
                name: Some(name),
            },
            None,
            None,
        ));
    }
    Err(Failure::bad_input(format!(
        "{}: expected a directory, a .tex file, a .ipynb notebook, a .zip or a .tar.gz",
        project.display()
    )))
}

/// Puts the result into OUTDIR. A private store's result (`--no-cache`)
/// is thrown away afterwards, so when OUTDIR does not exist yet it is
/// moved there instead of copied (on another filesystem the rename fails
/// and it is copied after all).
fn deliver(result: &Path, out_dir: &Path, private: bool) -> std::io::Result<()> {
    if private
        && std::fs::symlink_metadata(out_dir).is_err()
        && std::fs::rename(result, out_dir).is_ok()
    {
        // The store made it owner-only; a copy would have had the default mode.
        use std::os::unix::fs::PermissionsExt;
        return std::fs::set_permissions(out_dir, std::fs::Permissions::from_mode(0o755));
    }
    copy_result(result, out_dir)
}

/// Copies a result directory (regular files and directories only).
fn copy_result(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .map_err(std::io::Error::other)?;
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_explains_each_attempt_and_the_first_errors() {
        let details = Details::Failed {
            status: crate::convert::diagnostics::StatusClass::Fatal,
            attempts: serde_json::from_value(serde_json::json!([
                {"converter": "latexml", "status": "timeout", "reason": "timed out after 149 s", "wall_ms": 1},
                {"converter": "make4ht", "status": "fatal", "reason": "produced no page", "wall_ms": 1},
            ]))
            .unwrap(),
            diagnostics: serde_json::from_value(serde_json::json!([
                {"severity": "warning", "file": "a.tex", "line": 1, "message": "w"},
                {"severity": "fatal", "file": "main.tex", "line": 12, "message": "Emergency stop."},
                {"severity": "error", "file": null, "line": null, "message": "no file"},
            ]))
            .unwrap(),
        };
        assert_eq!(
            explain(&details),
            [
                "latexml: timed out after 149 s",
                "make4ht: produced no page",
                "main.tex:12: Emergency stop.",
                "no file",
            ]
        );
        let rejected = Details::Rejected {
            rule: "zip_bomb".into(),
            entry: None,
        };
        assert!(explain(&rejected).is_empty());
    }
}
