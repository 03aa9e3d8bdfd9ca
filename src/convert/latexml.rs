//! LaTeXML (`latexmlc`), the default converter and the one arXiv's HTML
//! papers use: HTML5, presentation MathML with the TeX kept as annotation,
//! and the processing limits arXiv preloads so a runaway macro stops with a
//! fatal error instead of eating the whole budget. See docs/converters.md.

use std::time::Duration;

use super::assemble::RunOutput;
use super::diagnostics::{self, Report};
use super::driver::{CONVERTER_LOG, OUT_DIR, STDOUT_LOG};
use super::scan::{self, ProjectScan};
use super::shell::{quote, quote_path};

/// LaTeXML's own limits, preloaded through `latexml.sty` exactly like
/// arXiv's pipeline. `localrawstyles` makes LaTeXML read the project's own
/// `.sty` files (it otherwise ignores them); `nobibtex` makes it read the
/// `.bbl` instead of parsing `.bib` files itself.
pub const PRELOAD: &str = "[nobibtex,ids,localrawstyles,mathlexemes,magnify=2,zoomout=2,\
tokenlimit=249999999,iflimit=3599999,absorblimit=1299999,pushbacklimit=599999]latexml.sty";

/// Where the driver writes [`BINDING_BODY`], in the driver's private
/// directory (`/job/.texjail`), and the name LaTeXML preloads it by.
pub const BINDING_DIR: &str = "/job/.texjail";
pub const BINDING: &str = "texjail.sty.ltxml";

/// Definitions LaTeXML 0.8.7 lacks for commands that only matter to a
/// PDF build and would otherwise be printed raw on the page. xr's and
/// xr-hyper's `\externaldocument` (cross-references into another
/// document's `.aux`, which a single upload does not have; the Stacks
/// project's chapters carry over a hundred) and zref-xr's variants are
/// no-ops here, as they are in LaTeX when the other document is absent.
/// AASTeX 6's page-layout and revision-list commands, which LaTeXML's
/// AASTeX binding predates (`\startlongtable` before a table that may
/// break across pages, `\listofchanges` printing the revision marks, the
/// `\turnoffedit` switches; corpus project 41 stopped at two of them),
/// are no-ops too: a page has neither page breaks nor a revision list,
/// and the tables and marked text still come out.
pub const BINDING_BODY: &str = r"package LaTeXML::Package::Pool;
use strict;
use warnings;
use LaTeXML::Package;
DefMacro('\externaldocument[]{}', '');
DefMacro('\externalcitedocument[]{}', '');
DefMacro('\zexternaldocument OptionalMatch:* []{}', '');
DefMacro('\startlongtable', '');
DefMacro('\listofchanges', '');
DefMacro('\turnoffedit', '');
DefMacro('\turnoffediting', '');
DefMacro('\turnonedit', '');
1;
";

/// Seconds LaTeXML's own timeout fires before the jail's, so it still
/// writes the partial document and its log.
const OWN_TIMEOUT_MARGIN: u64 = 10;

/// The driver's exit code when LaTeXML stopped at its own timeout.
///
/// How that is told without trusting the document: LaTeXML reports its
/// timeout only as a `Fatal:timeout` line in its log and exits 1 as for
/// any fatal error, and the log is the document's to write in
/// (`\typeout`, `\message`, a binding's Perl). So the driver times
/// `latexmlc` itself, with `date` from the read-only rootfs, and exits
/// with this code when `latexmlc` failed after running at least its own
/// timeout. The exit status of the jail's command is the one fact of a
/// run that nothing the document runs can set: it would have to write
/// the driver's memory, and seccomp denies `ptrace` and
/// `process_vm_writev` while landlock denies opening `/proc/<pid>/mem`
/// for writing (writes are allowed only under `/job`, `/tmp` and
/// `/dev`). The host also holds the supervisor's wall-clock time of the
/// run against the same timeout ([`stopped_by_own_timeout`]), so even a forged
/// code could only call a timeout a run that really took that long.
/// 124 is `timeout(1)`'s code; `latexmlc` itself exits only 0 or 1 (or
/// 128 + a signal).
pub const OWN_TIMEOUT_EXIT: i32 = 124;

/// LaTeXML's own timeout for an attempt of `timeout`: `OWN_TIMEOUT_MARGIN`
/// seconds shorter, but at least three quarters of it and one second.
pub fn own_timeout(timeout: Duration) -> Duration {
    Duration::from_secs(
        timeout
            .as_secs()
            .saturating_sub(OWN_TIMEOUT_MARGIN)
            .max(timeout.as_secs() * 3 / 4)
            .max(1),
    )
}

/// The file LaTeXML 0.8.7 never gets through: with no binding for the
/// LaTeX3 kernel it interprets `expl3-code.tex` raw, in Perl, and was
/// still inside it after 400 s of a one-line `\usepackage{xparse}`
/// document (docs/converters.md). xparse, lipsum, siunitx, tcolorbox,
/// glossaries, ctex, biblatex and every other expl3 package end up there.
const EXPL3_KERNEL: &str = "l3kernel/expl3-code.tex";

/// The line the driver appends to LaTeXML's log when it stops LaTeXML at
/// `EXPL3_KERNEL`; in LaTeXML's own `Fatal:` format, so the attempt's
/// status is fatal and `auto` falls back at once.
pub const EXPL3_STOPPED: &str = "Fatal:texjail:expl3 LaTeXML stopped: it began interpreting \
the LaTeX3 kernel (expl3-code.tex), which LaTeXML 0.8.7 does not finish in any useful time";

/// Seconds between two looks of the watcher at LaTeXML's console output.
const WATCH_INTERVAL: &str = "0.5";

/// The command, run in the main file's directory: `latexmlc` in the
/// background and a watcher that stops it as soon as its console output
/// names `EXPL3_KERNEL`. The driver waits only for `latexmlc`; the jail
/// ends the watcher with everything else when the driver exits. The
/// watcher leaves a flag and the driver appends `EXPL3_STOPPED` to the
/// log once `latexmlc` is gone: appended earlier, the line could be
/// overwritten by LaTeXML's last writes, or lost with the watcher when
/// the driver ends first. `$?` is `latexmlc`'s status afterwards, or
/// [`OWN_TIMEOUT_EXIT`] when it failed after running its whole own
/// timeout (timed by the driver with `date` to the millisecond, never
/// read from the log: whole seconds would call a quick failure that
/// crosses a second's boundary a timeout of a one-second budget).
pub fn command(main: &str, timeout: Duration) -> String {
    let own_timeout = own_timeout(timeout).as_secs();
    let own_timeout_ms = own_timeout * 1000;
    format!(
        "latexml_started=$(date +%s%N)\n\
         latexmlc --format=html5 --pmml --mathtex --nodefaultresources --navigationtoc=context \
         --timeout={own_timeout} {preload} --path={BINDING_DIR} --preload=texjail.sty \
         --log=/job/{CONVERTER_LOG} \
         --dest=/job/{OUT_DIR}/index.html {main} </dev/null >/job/{STDOUT_LOG} 2>&1 &\n\
         latexml=$!\n\
         (while sleep {WATCH_INTERVAL}; do \
         if grep -qF {kernel} /job/{STDOUT_LOG}; then \
         : >/job/{CONVERTER_LOG}.expl3; kill $latexml; exit; fi; done) &\n\
         wait $latexml; latexml_status=$?\n\
         latexml_ran_ms=$(( ($(date +%s%N) - latexml_started) / 1000000 ))\n\
         if [ -e /job/{CONVERTER_LOG}.expl3 ]; then echo {stopped} >>/job/{CONVERTER_LOG}\n\
         elif [ \"$latexml_status\" -ne 0 ] && [ \"$latexml_ran_ms\" -ge {own_timeout_ms} ]; then \
         latexml_status={OWN_TIMEOUT_EXIT}; fi\n\
         (exit $latexml_status)",
        preload = quote(&format!("--preload={PRELOAD}")),
        main = quote_path(main),
        kernel = quote(EXPL3_KERNEL),
        stopped = quote(EXPL3_STOPPED),
    )
}

/// Why LaTeXML cannot convert this project at all, decided before
/// spending a jail run on it. The refusals are measured, not guessed
/// (docs/converters.md, "LaTeXML"):
///
/// - LaTeXML 0.8.7 (the rootfs's) has no biblatex binding; it falls back
///   to raw-loading biblatex.sty, whose expl3 dependency it cannot process
///   within any reasonable budget (measured: > 4 min, then its own
///   timeout), so a biblatex document never yields a page from it.
/// - Packages known to lead into the raw LaTeX3 kernel
///   (`scan::EXPL3_PACKAGES`), which it never finishes; others are stopped
///   there by the driver ([`EXPL3_STOPPED`]).
/// - It interprets pgf in Perl, tens of seconds per TikZ picture, so a
///   document with many pictures can only time out
///   (`scan::LATEXML_MAX_TIKZ_PICTURES`).
pub fn declines(scan: &ProjectScan) -> Option<String> {
    if scan.uses_biblatex {
        return Some(
            "skipped: LaTeXML 0.8.7 cannot read biblatex documents (use make4ht or auto)".into(),
        );
    }
    if let Some(package) = scan.expl3_package {
        return Some(format!(
            "skipped: {package} needs the LaTeX3 kernel, which LaTeXML 0.8.7 cannot interpret \
             in time (use make4ht or auto)"
        ));
    }
    (scan.tikz_pictures > scan::LATEXML_MAX_TIKZ_PICTURES).then(|| {
        format!(
            "skipped: {} TikZ pictures, more than LaTeXML 0.8.7 draws in time (at most {}; \
             use make4ht or auto)",
            scan.tikz_pictures,
            scan::LATEXML_MAX_TIKZ_PICTURES
        )
    })
}

/// Whether a run of `timeout` ended at LaTeXML's own timeout: the driver
/// exited with [`OWN_TIMEOUT_EXIT`], which it does only when `latexmlc`
/// failed after running its own timeout, and the supervisor's clock
/// (`wall`, not the document's) agrees the run lasted that long.
pub fn stopped_by_own_timeout(exit_code: Option<i32>, wall: Duration, timeout: Duration) -> bool {
    exit_code == Some(OWN_TIMEOUT_EXIT) && wall >= own_timeout(timeout)
}

/// Whether the driver stopped LaTeXML at the LaTeX3 kernel.
pub fn stopped_at_expl3(output: &RunOutput) -> bool {
    output.log(CONVERTER_LOG).contains(EXPL3_STOPPED)
}

/// The run's diagnostics: LaTeXML's log, or its console output when it
/// wrote no log.
pub fn diagnose(output: &RunOutput) -> Report {
    let log = output.log(CONVERTER_LOG);
    diagnostics::parse_latexml(if log.is_empty() {
        output.log(STDOUT_LOG)
    } else {
        log
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arxiv_flags_and_limits_are_passed() {
        let c = command("paper.tex", Duration::from_secs(300));
        for flag in [
            "--format=html5",
            "--pmml",
            "--mathtex",
            "--nodefaultresources",
            "--navigationtoc=context",
            "--timeout=290",
            "tokenlimit=249999999",
            "iflimit=3599999",
            "absorblimit=1299999",
            "pushbacklimit=599999",
            "nobibtex",
            "'paper.tex'",
        ] {
            assert!(c.contains(flag), "{flag} missing from {c}");
        }
    }

    /// The watcher, run by a real `sh` against a stand-in for `latexmlc`
    /// that prints the kernel's name and would then run for a minute.
    #[test]
    fn the_watcher_stops_latexml_at_the_expl3_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        std::fs::create_dir_all(dir.path().join(".texjail/out")).unwrap();
        let fake = dir.path().join("latexmlc");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\necho '(Processing definitions /x/{EXPL3_KERNEL}...' >&2\nexec sleep 60\n"),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let script =
            command("m.tex", Duration::from_secs(120)).replace("/job/", &format!("{root}/"));
        let started = std::time::Instant::now();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{root}:/usr/bin:/bin"))
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(!status.success());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let log = std::fs::read_to_string(dir.path().join(CONVERTER_LOG)).unwrap();
        assert!(log.contains(EXPL3_STOPPED), "{log}");
        let report = super::super::diagnostics::parse_latexml(&log);
        assert_eq!(report.status, super::super::diagnostics::StatusClass::Fatal);
    }

    use std::os::unix::process::CommandExt;

    /// The driver's status after a stand-in for `latexmlc` with `body`,
    /// in an attempt of one second (so LaTeXML's own timeout is 1 s).
    fn driver_status_after(body: &str) -> Option<i32> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        std::fs::create_dir_all(dir.path().join(".texjail/out")).unwrap();
        let fake = dir.path().join("latexmlc");
        std::fs::write(&fake, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let script = command("m.tex", Duration::from_secs(1)).replace("/job/", &format!("{root}/"));
        let mut driver = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{root}:/usr/bin:/bin"))
            .current_dir(dir.path())
            .process_group(0)
            .spawn()
            .unwrap();
        let status = driver.wait().unwrap();
        // The watcher outlives the driver; in the jail it dies with the
        // namespace, here with its process group.
        let group = nix::unistd::Pid::from_raw(driver.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        status.code()
    }

    /// Only the time `latexmlc` took, measured by the driver, makes its
    /// failure a timeout; what it prints never does.
    #[test]
    fn the_driver_tells_latexmls_own_timeout_by_the_clock() {
        let spoof = format!(
            "echo 'Fatal:timeout:timedout Conversion timed out' >>{CONVERTER_LOG}; \
             echo 'Fatal:timeout' >&2; exit 1"
        );
        assert_eq!(driver_status_after(&spoof), Some(1));
        assert_eq!(driver_status_after("exit 0"), Some(0));
        assert_eq!(
            driver_status_after("sleep 1.2; exit 1"),
            Some(OWN_TIMEOUT_EXIT)
        );
        // Done in time after a long run: not a timeout.
        assert_eq!(driver_status_after("sleep 1.2; exit 0"), Some(0));
    }

    #[test]
    fn own_timeout_stays_inside_short_budgets() {
        assert_eq!(own_timeout(Duration::from_secs(300)).as_secs(), 290);
        assert_eq!(own_timeout(Duration::from_secs(8)).as_secs(), 6);
        assert_eq!(own_timeout(Duration::from_secs(1)).as_secs(), 1);
        assert!(command("m.tex", Duration::from_secs(8)).contains("--timeout=6 "));
        assert!(command("m.tex", Duration::from_secs(1)).contains("--timeout=1 "));
    }
}
