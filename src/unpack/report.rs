//! `texjail inspect`: validate an archive without converting it, in a
//! private temporary directory that is removed afterwards, and report the
//! verdict, the files and the project digest (serialized as JSON).

use std::path::Path;

use serde::Serialize;

use super::{import_dir, sniff, unpack_file, Format, Limits, ProjectFile};

/// What `inspect` found; serialised as-is for `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `"accepted"` or `"rejected"`.
    pub verdict: &'static str,
    /// The rule's stable code when rejected.
    pub code: Option<&'static str>,
    /// The rule, the entry and the limit, in words.
    pub message: Option<String>,
    /// The entry to blame, when one is.
    pub entry: Option<String>,
    pub format: Option<Format>,
    /// The project root relative to the unpacked tree (`""` or a folder).
    pub root: Option<String>,
    pub files: Vec<ProjectFile>,
    pub total_bytes: u64,
    pub digest: Option<String>,
    /// Peak resident memory of this process in KiB, as the kernel counts it.
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    pub fn accepted(&self) -> bool {
        self.verdict == "accepted"
    }
}

/// Unpacks `input` (an archive, or a directory) into a fresh private
/// temporary directory, removes it again, and reports.
pub fn inspect(input: &Path, limits: &Limits) -> Report {
    let mut report = Report {
        verdict: "rejected",
        code: None,
        message: None,
        entry: None,
        format: None,
        root: None,
        files: Vec::new(),
        total_bytes: 0,
        digest: None,
        peak_rss_kib: None,
    };
    let scratch = match tempfile::Builder::new()
        .prefix("texjail-inspect-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => {
            report.code = Some("io");
            report.message = Some(format!("cannot create a temporary directory: {e}"));
            return report;
        }
    };
    let is_dir = std::fs::symlink_metadata(input).is_ok_and(|m| m.is_dir());
    report.format = if is_dir {
        Some(Format::Directory)
    } else {
        sniff(input).ok()
    };
    let result = if is_dir {
        import_dir(input, scratch.path(), limits)
    } else {
        unpack_file(input, scratch.path(), limits)
    };
    match result {
        Ok(project) => {
            report.verdict = "accepted";
            report.root = Some(
                project
                    .root
                    .strip_prefix(scratch.path())
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            report.total_bytes = project.files.iter().map(|f| f.size).sum();
            report.files = project.files;
            report.digest = Some(project.digest);
            report.format = Some(project.format);
        }
        Err(e) => {
            report.code = Some(e.code());
            report.entry = e.entry().map(str::to_string);
            report.message = Some(e.to_string());
        }
    }
    if let Err(e) = scratch.close() {
        tracing::warn!("cannot remove the inspect scratch directory: {e}");
    }
    report.peak_rss_kib = peak_rss_kib();
    report
}

/// `VmHWM` from `/proc/self/status`: the peak resident set of this
/// process image. (`getrusage` would not do: Linux carries the parent's
/// peak over `exec`, so a big parent would inflate the number.)
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
