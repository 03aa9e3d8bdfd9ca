//! Converters: how each one is driven inside the jail, and the shared
//! vocabulary (`Converter`, `Options`) the job runner, the CLI and the
//! server speak.
//!
//! Every converter attempt is ONE jail run of a generated `sh` driver
//! (`driver`): optional bibliography, figure and picture pre-passes, then the
//! converter itself. Nothing here spawns a process or imports the job
//! runner above it, which hands the driver to the jail. Flags are
//! documented in `docs/converters.md`.

pub mod assemble;
pub mod bibliography;
pub mod bounded;
pub mod diagnostics;
pub mod driver;
pub mod figures;
pub mod groups;
pub mod image_size;
pub mod latexml;
pub mod macros;
pub mod mainfile;
pub mod make4ht;
pub mod missing_files;
pub mod notebook;
pub mod notebook_exec;
pub mod overlays;
pub mod pandoc;
pub mod pandoc_math;
pub mod pictures;
pub mod quality;
pub mod render;
pub mod scan;
pub mod scripts;
pub mod settings;
pub mod shell;
pub mod source_edits;
pub mod splits;
pub mod tex_source;
pub mod wrappers;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use assemble::RunOutput;
use diagnostics::{Report, StatusClass};
use scan::ProjectScan;

pub use settings::Settings;

/// Version of the drivers and of result assembly; part of every cache key,
/// bumped whenever they change what a result contains.
pub const PIPELINE_VERSION: &str = "15";

/// Which converter to run; `Auto` tries LaTeXML, then make4ht, then pandoc
/// on a TeX project, and takes `Notebook` for a Jupyter notebook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Converter {
    Auto,
    Latexml,
    Make4ht,
    Pandoc,
    /// A Jupyter notebook: the pre-pass and pandoc (`notebook`).
    Notebook,
}

impl Converter {
    pub const ALL: [Converter; 5] = [
        Converter::Auto,
        Converter::Latexml,
        Converter::Make4ht,
        Converter::Pandoc,
        Converter::Notebook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Converter::Auto => "auto",
            Converter::Latexml => "latexml",
            Converter::Make4ht => "make4ht",
            Converter::Pandoc => "pandoc",
            Converter::Notebook => "notebook",
        }
    }

    /// The concrete converters an attempt sequence runs, in order.
    pub fn chain(self) -> &'static [Converter] {
        match self {
            Converter::Auto => &[Converter::Latexml, Converter::Make4ht, Converter::Pandoc],
            Converter::Latexml => &[Converter::Latexml],
            Converter::Make4ht => &[Converter::Make4ht],
            Converter::Pandoc => &[Converter::Pandoc],
            Converter::Notebook => &[Converter::Notebook],
        }
    }
}

impl Converter {
    /// An attempt's share of the remaining budget: the last converter gets
    /// all of it; before a fallback, LaTeXML gets half (make4ht runs LaTeX
    /// three times and needs the other half), make4ht four fifths (pandoc
    /// takes seconds).
    pub fn time_share(self, remaining: Duration, last: bool) -> Duration {
        match self {
            _ if last => remaining,
            Converter::Latexml | Converter::Auto => remaining / 2,
            Converter::Make4ht => remaining * 4 / 5,
            Converter::Pandoc | Converter::Notebook => remaining,
        }
    }

    /// Why this converter cannot convert the project at all, decided
    /// before spending a jail run on it (only LaTeXML declines:
    /// [`latexml::declines`]).
    pub fn declines(self, scan: &ProjectScan) -> Option<String> {
        match self {
            Converter::Latexml => latexml::declines(scan),
            _ => None,
        }
    }

    /// The diagnostics of a run, read from the logs this converter's
    /// driver leaves; `main` is the main file's name in its directory.
    pub fn diagnose(self, output: &RunOutput, main: &str) -> Report {
        match self {
            Converter::Latexml | Converter::Auto => latexml::diagnose(output),
            Converter::Make4ht => make4ht::diagnose(output, main),
            Converter::Pandoc => pandoc::diagnose(output),
            Converter::Notebook => notebook::diagnose(output),
        }
    }

    /// Whether a run of `timeout` that exited with `exit_code` after
    /// `wall` (the jail's clock) ended at the converter's own timeout
    /// (only LaTeXML has one: [`latexml::stopped_by_own_timeout`]).
    pub fn stopped_by_own_timeout(
        self,
        exit_code: Option<i32>,
        wall: Duration,
        timeout: Duration,
    ) -> bool {
        matches!(self, Converter::Latexml | Converter::Auto)
            && latexml::stopped_by_own_timeout(exit_code, wall, timeout)
    }
}

/// Why a run that ended with `status` ended as it did, as the job's list
/// of attempts says it.
pub fn run_reason(output: &RunOutput, status: StatusClass, timeout: Duration) -> String {
    match (&output.html, status) {
        (_, StatusClass::Timeout) => format!("timed out after {} s", timeout.as_secs()),
        _ if latexml::stopped_at_expl3(output) => {
            "stopped: LaTeXML 0.8.7 cannot interpret the LaTeX3 kernel (expl3) in time".to_string()
        }
        (None, _) => "produced no page".to_string(),
        (Some(_), StatusClass::Fatal) => "stopped with a fatal error".to_string(),
        (Some(_), _) => "produced a page".to_string(),
    }
}

impl fmt::Display for Converter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown converter {0:?} (expected auto, latexml, make4ht, pandoc or notebook)")]
pub struct UnknownConverter(String);

impl FromStr for Converter {
    type Err = UnknownConverter;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Converter::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownConverter(s.to_string()))
    }
}

/// What the caller asks for. `main` wins over main-file detection;
/// `timeout` is the wall-clock budget of the whole job (all attempts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub converter: Converter,
    pub main: Option<String>,
    pub timeout: Option<Duration>,
    /// Announce a fast first page before the faithful one (`auto` only).
    /// Not part of the result, so not of the fingerprint.
    pub preview: bool,
    /// Execute a notebook's code cells before rendering it (ignored for
    /// a TeX project).
    pub execute: Option<notebook_exec::Execute>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            converter: Converter::Auto,
            main: None,
            timeout: None,
            preview: false,
            execute: None,
        }
    }
}

impl Options {
    /// The part of the cache key the options contribute. Every field that
    /// can change the result is in it.
    pub fn fingerprint(&self, default_timeout: Duration) -> String {
        let mut fingerprint = format!(
            "pipeline={PIPELINE_VERSION};converter={};main={};timeout_ms={}",
            self.converter,
            self.main.as_deref().unwrap_or(""),
            self.timeout.unwrap_or(default_timeout).as_millis()
        );
        // An executed page differs from the stored outputs' page.
        if let Some(execute) = &self.execute {
            fingerprint.push(';');
            fingerprint.push_str(&execute.fingerprint());
        }
        fingerprint
    }

    /// The part of the cache key of this upload's preview: pandoc's pass
    /// without figures and pictures (`job::chain`), a result of its own.
    pub fn preview_fingerprint(&self, default_timeout: Duration) -> String {
        let pandoc = Options {
            converter: Converter::Pandoc,
            ..self.clone()
        };
        format!("{};pass=preview", pandoc.fingerprint(default_timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converter_names_round_trip() {
        for c in Converter::ALL {
            assert_eq!(c.to_string().parse::<Converter>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
        }
        assert!("LaTeXML".parse::<Converter>().is_ok());
        let err = "tex4ht".parse::<Converter>().unwrap_err();
        assert!(err.to_string().contains("tex4ht"));
    }

    #[test]
    fn auto_chain_tries_latexml_first() {
        assert_eq!(
            Converter::Auto.chain(),
            &[Converter::Latexml, Converter::Make4ht, Converter::Pandoc]
        );
        assert_eq!(Converter::Pandoc.chain(), &[Converter::Pandoc]);
    }

    #[test]
    fn fallbacks_keep_time_to_run() {
        let t = Duration::from_secs(300);
        assert_eq!(
            Converter::Latexml.time_share(t, false),
            Duration::from_secs(150)
        );
        assert_eq!(
            Converter::Make4ht.time_share(t, false),
            Duration::from_secs(240)
        );
        assert_eq!(Converter::Make4ht.time_share(t, true), t);
        assert_eq!(Converter::Latexml.time_share(t, true), t);
    }

    #[test]
    fn fingerprint_changes_with_every_option() {
        let d = Duration::from_secs(300);
        let base = Options::default();
        let mut other = base.clone();
        other.converter = Converter::Pandoc;
        assert_ne!(base.fingerprint(d), other.fingerprint(d));
        let mut other = base.clone();
        other.main = Some("a.tex".into());
        assert_ne!(base.fingerprint(d), other.fingerprint(d));
        let mut other = base.clone();
        other.timeout = Some(Duration::from_secs(5));
        assert_ne!(base.fingerprint(d), other.fingerprint(d));
        // The preview is neither the job's result nor pandoc's.
        let pandoc = Options {
            converter: Converter::Pandoc,
            ..base.clone()
        };
        assert_ne!(base.preview_fingerprint(d), base.fingerprint(d));
        assert_ne!(base.preview_fingerprint(d), pandoc.fingerprint(d));
        assert_eq!(base.preview_fingerprint(d), pandoc.preview_fingerprint(d));
        let mut executed = base.clone();
        executed.execute = Some(notebook_exec::Execute::default());
        assert_ne!(base.fingerprint(d), executed.fingerprint(d));
        let mut shorter = executed.clone();
        shorter.execute = Some(notebook_exec::Execute {
            cell_timeout_secs: Some(5),
            memory_bytes: None,
        });
        assert_ne!(executed.fingerprint(d), shorter.fingerprint(d));
        let mut smaller = executed.clone();
        smaller.execute = Some(notebook_exec::Execute {
            cell_timeout_secs: None,
            memory_bytes: Some(1 << 30),
        });
        assert_ne!(executed.fingerprint(d), smaller.fingerprint(d));
    }
}
