//! `texjail inspect ARCHIVE`: validates an archive (or a project
//! directory) without converting it and prints the report (`--json`: as
//! JSON); exit 0 when accepted, 2 when rejected.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::unpack::report::{self, Report};

pub fn run(config: &Config, archive: &Path, json: bool) -> ExitCode {
    let report = report::inspect(archive, &config.unpack);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        print!("{}", render(&report));
    }
    if report.accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The human-readable report.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let format = report
        .format
        .map_or("unknown format".to_string(), |f| f.to_string());
    if report.accepted() {
        let _ = writeln!(
            s,
            "accepted: {format}, {} files, {} bytes",
            report.files.len(),
            report.total_bytes
        );
        let root = report.root.as_deref().unwrap_or_default();
        let _ = writeln!(s, "root: {}", if root.is_empty() { "." } else { root });
        let _ = writeln!(
            s,
            "digest: {}",
            report.digest.as_deref().unwrap_or_default()
        );
        let width = report
            .files
            .iter()
            .map(|f| f.size.to_string().len())
            .max()
            .unwrap_or(1);
        for f in &report.files {
            let _ = writeln!(s, "  {:>width$}  {}", f.size, f.path);
        }
    } else {
        let _ = writeln!(
            s,
            "rejected ({}): {}",
            report.code.unwrap_or("unknown"),
            report.message.as_deref().unwrap_or_default()
        );
        let _ = writeln!(s, "format: {format}");
    }
    s
}
