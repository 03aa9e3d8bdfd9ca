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

/// Seconds LaTeXML's own timeout fires before the jail's, so it still
/// writes the partial document and its log.
const OWN_TIMEOUT_MARGIN: u64 = 10;

/// The command, run in the main file's directory.
pub fn command(main: &str, timeout: Duration) -> String {
    let own_timeout = timeout
        .as_secs()
        .saturating_sub(OWN_TIMEOUT_MARGIN)
        .max(timeout.as_secs() * 3 / 4)
        .max(1);
    format!(
        "latexmlc --format=html5 --pmml --mathtex --nodefaultresources --navigationtoc=context \
         --timeout={own_timeout} {preload} --log=/job/{CONVERTER_LOG} \
         --dest=/job/{OUT_DIR}/index.html {main} </dev/null >/job/{STDOUT_LOG} 2>&1",
        preload = quote(&format!("--preload={PRELOAD}")),
        main = quote_path(main),
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

    #[test]
    fn own_timeout_stays_inside_short_budgets() {
        assert!(command("m.tex", Duration::from_secs(8)).contains("--timeout=6 "));
        assert!(command("m.tex", Duration::from_secs(1)).contains("--timeout=1 "));
    }
}
