//! The post-conversion step ([`assemble`]) run in a short-lived child
//! process under a time and memory budget.
//!
//! The converter's page is shaped by the upload (make4ht's `\HCode`,
//! pandoc's raw blocks, LaTeXML's raw output), and it is parsed by
//! html5ever, ammonia and the SVG sanitizer, whose cost is not linear on
//! every input (a tag with many attributes, deep nesting, ...). The cheap
//! pre-checks in `crate::sanitize` refuse the shapes we know; this budget
//! is the wall for the ones we do not: whatever the parser's weak spot, a
//! page cannot hold a slot longer than `convert.assemble_timeout_secs` nor
//! take more than `convert.assemble_memory_bytes` of the server's memory.
//!
//! The parent execs `texjail __assemble` (std's `Command`: fork+exec with
//! no allocation in between, safe in the multi-threaded server), writes a
//! [`Request`] as JSON on its stdin and reads a [`Reply`] from its stdout.
//! The child sets its own `RLIMIT_AS` and `RLIMIT_CPU` before it reads the
//! page, asks to be killed with its parent, and writes only into the
//! result directory it was given. The parent kills it at the wall-clock
//! deadline or on cancel.

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::assemble::{self, Assembled};
use super::render::PageSummary;
use super::Settings;

/// The hidden subcommand that runs the child side.
pub const SUBCOMMAND: &str = "__assemble";

/// How often the parent looks at the cancel flag while the child runs.
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// Most bytes of the request the child reads (paths, settings, a summary).
const MAX_REQUEST_BYTES: u64 = 1 << 20;
/// Most bytes of the child's stderr (a panic or allocation-failure
/// message) the parent reads. Its reply is read whole: it holds the page's
/// title, which only the child's memory limit bounds.
const MAX_STDERR_BYTES: u64 = 64 << 10;

/// What the child assembles: the converter's page in `job_out`, into
/// `dest` (see [`assemble::assemble`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub job_out: PathBuf,
    pub main_dir: String,
    /// The project's `\graphicspath` folders ([`crate::convert::scan::ProjectScan::graphics_paths`]).
    pub figure_dirs: Vec<String>,
    pub dest: PathBuf,
    pub settings: Settings,
    pub summary: PageSummary,
}

/// The child's answer on stdout.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Assembled(Assembled),
    /// An I/O error (no hostile cause: the page is read with a cap and
    /// figures are resolved beneath the copy-out only).
    Failed(String),
}

/// Why no result was assembled.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    #[error("sanitizing the converter output took longer than {secs} s; the page was refused")]
    Timeout { secs: u64 },
    #[error(
        "sanitizing the converter output needed more than {} MiB of memory; the page was refused",
        bytes >> 20
    )]
    Memory { bytes: u64 },
    #[error("the job was cancelled")]
    Cancelled,
    /// Ours, not the page's: logged, never shown (may name host paths).
    #[error("{0}")]
    Failed(String),
}

impl BoundedError {
    /// The config key of the limit the page broke, if it broke one.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            BoundedError::Timeout { .. } => Some("convert.assemble_timeout_secs"),
            BoundedError::Memory { .. } => Some("convert.assemble_memory_bytes"),
            BoundedError::Cancelled | BoundedError::Failed(_) => None,
        }
    }
}

/// Runs [`assemble::assemble`] for `request` in a child `exe __assemble`
/// (`exe` is the texjail binary) and waits at most
/// `settings.assemble_timeout_secs`, killing it then or when `cancel` is
/// set.
pub fn assemble(
    exe: &Path,
    request: &Request,
    cancel: &AtomicBool,
) -> Result<Assembled, BoundedError> {
    let secs = request.settings.assemble_timeout_secs.max(1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let body = serde_json::to_vec(request).map_err(|e| BoundedError::Failed(e.to_string()))?;
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BoundedError::Failed(format!("cannot start {}: {e}", exe.display())))?;
    let (stdin, stdout, stderr) = (
        child.stdin.take().expect("piped"),
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    // The pipes are served on a helper thread so the deadline holds even
    // if the child stops reading or writing; it ends when the child does.
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(exchange(stdin, &body, stdout, stderr));
    });
    let mut killed = false;
    let (reply, errors) = loop {
        let now = Instant::now();
        if now >= deadline || cancel.load(Ordering::SeqCst) {
            kill(&mut child);
            killed = true;
            break output.recv().unwrap_or_default();
        }
        match output.recv_timeout(CANCEL_POLL.min(deadline - now)) {
            Ok(got) => break got,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Default::default(),
        }
    };
    let status = child
        .wait()
        .map_err(|e| BoundedError::Failed(format!("cannot wait for the child: {e}")))?;
    if killed {
        return Err(if cancel.load(Ordering::SeqCst) {
            BoundedError::Cancelled
        } else {
            BoundedError::Timeout { secs }
        });
    }
    verdict(status, &reply, &errors, &request.settings)
}

/// Writes the request, then reads the reply and the (capped) error output.
fn exchange(
    mut stdin: impl Write,
    body: &[u8],
    mut stdout: impl Read,
    stderr: impl Read,
) -> (Vec<u8>, Vec<u8>) {
    // A child that dies before reading makes this fail; its exit status
    // says why.
    let _ = stdin.write_all(body);
    drop(stdin);
    let mut reply = Vec::new();
    let _ = stdout.read_to_end(&mut reply);
    let mut errors = Vec::new();
    let _ = stderr.take(MAX_STDERR_BYTES).read_to_end(&mut errors);
    (reply, errors)
}

fn kill(child: &mut Child) {
    // Not yet waited for, so the pid is still this child's.
    let _ = child.kill();
}

/// What the child's end means.
fn verdict(
    status: ExitStatus,
    reply: &[u8],
    errors: &[u8],
    settings: &Settings,
) -> Result<Assembled, BoundedError> {
    let errors = String::from_utf8_lossy(errors);
    // std's allocation-failure handler prints this, then aborts.
    if errors.contains("memory allocation of") {
        return Err(BoundedError::Memory {
            bytes: settings.assemble_memory_bytes,
        });
    }
    // SIGXCPU is RLIMIT_CPU's; a SIGKILL we did not send (those are
    // handled before) is the kernel's OOM killer's.
    match status.signal() {
        Some(s) if s == Signal::SIGXCPU as i32 => {
            return Err(BoundedError::Timeout {
                secs: settings.assemble_timeout_secs.max(1),
            })
        }
        Some(s) if s == Signal::SIGKILL as i32 => {
            return Err(BoundedError::Memory {
                bytes: settings.assemble_memory_bytes,
            })
        }
        _ => {}
    }
    match serde_json::from_slice::<Reply>(reply) {
        Ok(Reply::Assembled(assembled)) if status.success() => Ok(assembled),
        Ok(Reply::Failed(message)) => Err(BoundedError::Failed(message)),
        _ => Err(BoundedError::Failed(format!(
            "the assemble process ended with {status}: {}",
            errors.trim()
        ))),
    }
}

/// The child side (`texjail __assemble`): reads the request, sets its
/// limits, assembles, replies. Returns the exit code.
pub fn child_main() -> i32 {
    let reply = match child_run() {
        Ok(assembled) => Reply::Assembled(assembled),
        Err(e) => Reply::Failed(e.to_string()),
    };
    let mut out = io::stdout().lock();
    match serde_json::to_writer(&mut out, &reply) {
        Ok(()) if out.flush().is_ok() => 0,
        _ => 1,
    }
}

fn child_run() -> io::Result<Assembled> {
    let mut body = Vec::new();
    io::stdin().take(MAX_REQUEST_BYTES).read_to_end(&mut body)?;
    let request: Request = serde_json::from_slice(&body).map_err(io::Error::other)?;
    limit_self(&request.settings)?;
    let html = assemble::read_page(&request.job_out, &request.settings)
        .ok_or_else(|| io::Error::other("the converter page is gone or over the size cap"))?;
    assemble::assemble(
        &html,
        &request.job_out,
        &request.main_dir,
        &request.figure_dirs,
        &request.dest,
        &request.settings,
        &request.summary,
    )
}

/// The budget, set on this process before it reads the page. The CPU
/// limit backs the parent's wall-clock deadline (and holds should the
/// parent be gone); no core file is written of a page that broke a limit.
fn limit_self(settings: &Settings) -> io::Result<()> {
    let secs = settings.assemble_timeout_secs.max(1);
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    setrlimit(Resource::RLIMIT_CPU, secs, secs + 1)?;
    setrlimit(
        Resource::RLIMIT_AS,
        settings.assemble_memory_bytes,
        settings.assemble_memory_bytes,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn signal(sig: Signal) -> ExitStatus {
        ExitStatus::from_raw(sig as i32)
    }

    #[test]
    fn ends_are_classified_by_the_limit_they_broke() {
        let settings = Settings::default();
        let oom = b"memory allocation of 4294967296 bytes failed\n";
        let err = verdict(signal(Signal::SIGABRT), b"", oom, &settings).unwrap_err();
        assert_eq!(err.limit(), Some("convert.assemble_memory_bytes"));
        assert!(err.to_string().contains("2048 MiB"), "{err}");
        let err = verdict(signal(Signal::SIGKILL), b"", b"", &settings).unwrap_err();
        assert_eq!(err.limit(), Some("convert.assemble_memory_bytes"));
        let err = verdict(signal(Signal::SIGXCPU), b"", b"", &settings).unwrap_err();
        assert_eq!(err.limit(), Some("convert.assemble_timeout_secs"));
        assert!(err.to_string().contains("longer than 30 s"), "{err}");
        let err = verdict(exit(101), b"", b"panicked at", &settings).unwrap_err();
        assert_eq!(err.limit(), None);
        let failed = serde_json::to_vec(&Reply::Failed("disk full".into())).unwrap();
        let err = verdict(exit(0), &failed, b"", &settings).unwrap_err();
        assert!(matches!(err, BoundedError::Failed(m) if m == "disk full"));
        let done = serde_json::to_vec(&Reply::Assembled(Assembled::default())).unwrap();
        assert_eq!(
            verdict(exit(0), &done, b"", &settings).unwrap(),
            Assembled::default()
        );
    }
}
