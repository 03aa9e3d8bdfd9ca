//! LaTeXML (`latexmlc`), the default converter and the one arXiv's HTML
//! papers use: HTML5, presentation MathML with the TeX kept as annotation,
//! and the processing limits arXiv preloads so a runaway macro stops with a
//! fatal error instead of eating the whole budget. See docs/converters.md.

use std::time::Duration;

use super::driver::{CONVERTER_LOG, OUT_DIR, STDOUT_LOG};
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
pub const BINDING_BODY: &str = r"package LaTeXML::Package::Pool;
use strict;
use warnings;
use LaTeXML::Package;
DefMacro('\externaldocument[]{}', '');
DefMacro('\externalcitedocument[]{}', '');
DefMacro('\zexternaldocument OptionalMatch:* []{}', '');
1;
";

/// Seconds LaTeXML's own timeout fires before the jail's, so it still
/// writes the partial document and its log.
const OWN_TIMEOUT_MARGIN: u64 = 10;

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
/// the driver ends first. `$?` is `latexmlc`'s status afterwards.
pub fn command(main: &str, timeout: Duration) -> String {
    let own_timeout = timeout
        .as_secs()
        .saturating_sub(OWN_TIMEOUT_MARGIN)
        .max(timeout.as_secs() * 3 / 4)
        .max(1);
    format!(
        "latexmlc --format=html5 --pmml --mathtex --nodefaultresources --navigationtoc=context \
         --timeout={own_timeout} {preload} --path={BINDING_DIR} --preload=texjail.sty \
         --log=/job/{CONVERTER_LOG} \
         --dest=/job/{OUT_DIR}/index.html {main} </dev/null >/job/{STDOUT_LOG} 2>&1 &\n\
         latexml=$!\n\
         (while sleep {WATCH_INTERVAL}; do \
         if grep -qF {kernel} /job/{STDOUT_LOG}; then \
         : >/job/{CONVERTER_LOG}.expl3; kill $latexml; exit; fi; done) &\n\
         wait $latexml; latexml_status=$?\n\
         if [ -e /job/{CONVERTER_LOG}.expl3 ]; then echo {stopped} >>/job/{CONVERTER_LOG}; fi\n\
         (exit $latexml_status)",
        preload = quote(&format!("--preload={PRELOAD}")),
        main = quote_path(main),
        kernel = quote(EXPL3_KERNEL),
        stopped = quote(EXPL3_STOPPED),
    )
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

    #[test]
    fn own_timeout_stays_inside_short_budgets() {
        assert!(command("m.tex", Duration::from_secs(8)).contains("--timeout=6 "));
        assert!(command("m.tex", Duration::from_secs(1)).contains("--timeout=1 "));
    }
}
