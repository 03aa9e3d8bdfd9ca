//! Figures a browser cannot show (PDF, EPS) become PNG inside the jail,
//! rendered by Ghostscript with `-dSAFER` (no file access beyond its
//! arguments). LaTeXML converts figures itself (ImageMagick + Ghostscript);
//! for make4ht and pandoc the driver runs this pre-pass, and make4ht is
//! told by its configuration (`make4ht::CFG_BODY`) to reference the
//! `.png` sibling.

use super::shell::quote_path;

/// Most figures one job converts; beyond that the rest stay unconverted
/// (and are dropped from the page) rather than eating the time budget.
pub const MAX_FIGURES: usize = 300;
/// Rendering resolution: sharp on high-DPI screens, small enough to serve.
const DPI: u32 = 150;

/// The `sh` snippet converting each figure `fig.pdf`/`fig.eps` into
/// `fig.png` next to it (when no such PNG exists). Paths are relative to
/// the project root, where the snippet runs.
pub fn prepass_script(figures: &[String], log: &str) -> String {
    let mut script = String::new();
    for fig in figures.iter().take(MAX_FIGURES) {
        let Some((stem, ext)) = fig.rsplit_once('.') else {
            continue;
        };
        let crop = if ext.eq_ignore_ascii_case("eps") {
            "-dEPSCrop"
        } else {
            "-dUseCropBox"
        };
        let png = quote_path(&format!("{stem}.png"));
        script.push_str(&format!(
            "[ -e {png} ] || gs -dSAFER -dBATCH -dNOPAUSE -dQUIET -sDEVICE=png16m -r{DPI} \
             -dTextAlphaBits=4 -dGraphicsAlphaBits=4 -dFirstPage=1 -dLastPage=1 {crop} \
             -sOutputFile={png} {src} </dev/null >>{log} 2>&1\n",
            src = quote_path(fig),
            log = super::shell::quote(log),
        ));
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_safe_ghostscript_call_per_figure() {
        let s = prepass_script(
            &["fig/a.pdf".into(), "b.EPS".into(), "-x.pdf".into()],
            "log",
        );
        assert_eq!(s.lines().count(), 3);
        assert!(s.lines().all(|l| l.contains("gs -dSAFER")));
        assert!(s.contains("-sOutputFile='fig/a.png' 'fig/a.pdf'"));
        assert!(s.contains("-dEPSCrop -sOutputFile='b.png' 'b.EPS'"));
        assert!(s.contains("'./-x.pdf'"));
    }

    #[test]
    fn figure_count_is_capped() {
        let many: Vec<String> = (0..1000).map(|i| format!("f{i}.pdf")).collect();
        assert_eq!(prepass_script(&many, "log").lines().count(), MAX_FIGURES);
    }
}
