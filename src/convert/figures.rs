//! Figures a browser cannot show (PDF, EPS) become PNG inside the jail,
//! rendered by Ghostscript with `-dSAFER` (no file access beyond its
//! arguments). LaTeXML converts figures itself (ImageMagick + Ghostscript);
//! for make4ht and pandoc the driver runs this pre-pass, and make4ht is
//! told by its configuration (`make4ht::CFG_BODY`) to reference the
//! `.png` sibling.

use super::shell::{quote, quote_path};

/// Most figures one job converts; beyond that the rest stay unconverted
/// (and are dropped from the page) rather than eating the time budget.
pub const MAX_FIGURES: usize = 300;
/// Rendering resolution: sharp on high-DPI screens, small enough to serve.
const DPI: u32 = 150;

/// The `sh` snippet converting each figure `fig.pdf`/`fig.eps` into
/// `fig.png` next to it (when no such PNG exists), and writing a PDF's
/// bounding box to `fig.xbb` (`extractbb`). Paths are relative to the
/// project root, where the snippet runs.
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
            "[ -e {png} ] || {}\n",
            ghostscript_png(crop, &png, &quote_path(fig), log)
        ));
        if ext.eq_ignore_ascii_case("pdf") {
            // Its size, for graphicx in DVI mode (`make4ht::PDF_SIZES`):
            // extractbb reads the PDF's boxes; a PDF it cannot parse that
            // Ghostscript can is measured by Ghostscript's `bbox` device.
            let xbb = quote_path(&format!("{stem}.xbb"));
            let pdf = quote_path(fig);
            script.push_str(&format!(
                "[ -e {xbb} ] || extractbb {pdf} </dev/null >>{log} 2>&1\n\
                 [ -s {xbb} ] || gs -dSAFER -dBATCH -dNOPAUSE -q -dFirstPage=1 -dLastPage=1 \
                 -sDEVICE=bbox {pdf} </dev/null 2>&1 >/dev/null | grep '^%%.*BoundingBox:' >{xbb}\n",
                log = quote(log),
            ));
        }
    }
    script
}

/// The Ghostscript call rendering the first page of `src` to `png` (both
/// already shell words: quoted names or quoted variable expansions), its
/// output appended to `log`.
fn ghostscript_png(crop: &str, png: &str, src: &str, log: &str) -> String {
    format!(
        "gs -dSAFER -dBATCH -dNOPAUSE -dQUIET -sDEVICE=png16m -r{DPI} \
         -dTextAlphaBits=4 -dGraphicsAlphaBits=4 -dFirstPage=1 -dLastPage=1 {crop} \
         -sOutputFile={png} {src} </dev/null >>{log} 2>&1",
        log = quote(log),
    )
}

/// Extensions tried, in order, for a TeX Live figure named without one
/// (graphicx's own order for pdfTeX, browser formats first).
const TEXLIVE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "pdf", "eps"];
/// Where TeX Live's files are in the rootfs; a lookup that lands
/// elsewhere (the project itself) is ignored.
const TEXLIVE_ROOT: &str = "/usr/share/";

/// The `sh` snippet copying each figure of `names` (plain names from
/// `scan::included_figure_names`, absent from the project) that
/// `kpsewhich` finds in TeX Live into `out_dir`, where the page assembly
/// looks first; a PDF or EPS one is rendered to a PNG next to it. Runs
/// in the main file's directory, as TeX would look.
pub fn texlive_script(names: &[String], out_dir: &str, log: &str) -> String {
    let mut script = String::new();
    for name in names {
        let has_extension = name
            .rsplit_once('.')
            .is_some_and(|(_, e)| TEXLIVE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        let candidates: Vec<String> = if has_extension {
            vec![name.clone()]
        } else {
            TEXLIVE_EXTENSIONS
                .iter()
                .map(|e| format!("{name}.{e}"))
                .collect()
        };
        let candidates: Vec<String> = candidates.iter().map(|c| quote(c)).collect();
        let out = quote(out_dir);
        // Each option only acts on its own format.
        let render = ghostscript_png(
            "-dEPSCrop -dUseCropBox",
            &format!("{out}/\"${{f%.*}}.png\""),
            &format!("{out}/\"$f\""),
            log,
        );
        script.push_str(&format!(
            "for f in {candidates}; do p=$(kpsewhich \"$f\" 2>/dev/null) || continue; \
             case \"$p\" in {TEXLIVE_ROOT}*) ;; *) continue;; esac; \
             cp \"$p\" {out}/\"$f\" || break; \
             case \"$f\" in *.pdf|*.eps) {render};; esac; break; done\n",
            candidates = candidates.join(" "),
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
        let renders: Vec<&str> = s
            .lines()
            .filter(|l| l.contains("-sDEVICE=png16m"))
            .collect();
        assert_eq!(renders.len(), 3);
        assert!(s
            .lines()
            .filter(|l| l.contains("gs "))
            .all(|l| l.contains("gs -dSAFER")));
        assert!(s.contains("-sOutputFile='fig/a.png' 'fig/a.pdf'"));
        assert!(s.contains("-dEPSCrop -sOutputFile='b.png' 'b.EPS'"));
        assert!(s.contains("'./-x.pdf'"));
        // PDFs get their bounding box too; the EPS has its own.
        assert!(s.contains("[ -e 'fig/a.xbb' ] || extractbb 'fig/a.pdf' "));
        assert!(s.contains("[ -e './-x.xbb' ] || extractbb './-x.pdf' "));
        assert!(s.contains("[ -s 'fig/a.xbb' ] || gs -dSAFER "));
        assert!(s.contains("-sDEVICE=bbox './-x.pdf' "));
        assert_eq!(s.lines().count(), 7);
    }

    #[test]
    fn figure_count_is_capped() {
        let many: Vec<String> = (0..1000).map(|i| format!("f{i}.pdf")).collect();
        let s = prepass_script(&many, "log");
        assert_eq!(s.matches("-sDEVICE=png16m").count(), MAX_FIGURES);
    }

    /// The lookup in a real `sh` with a fake `kpsewhich`: a hit in the
    /// system tree is copied under the name tried; a hit in the project
    /// (or nowhere) copies nothing; a name with an extension is looked up
    /// as is.
    #[test]
    fn texlive_figures_are_copied_only_from_the_system_tree() {
        let system_file = "/usr/share/common-licenses/GPL-3";
        assert!(
            std::path::Path::new(system_file).is_file(),
            "this test needs {system_file} (Debian's base-files)"
        );
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(dir.path().join("local.png"), "project").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let fake = bin.join("kpsewhich");
            std::fs::write(
                &fake,
                format!(
                    "#!/bin/sh\ncase \"$1\" in example.jpg|shot.png) echo {system_file};; \
                     local.png) echo \"$PWD/local.png\";; *) exit 1;; esac\n"
                ),
            )
            .unwrap();
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let names = ["example", "local", "nowhere", "shot.png"].map(String::from);
        let script = texlive_script(&names, &out.display().to_string(), "/dev/null");
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        let mut copied: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        copied.sort();
        assert_eq!(copied, ["example.jpg", "shot.png"]);
    }
}
