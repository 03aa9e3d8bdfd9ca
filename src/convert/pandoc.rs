//! pandoc (3.x, installed by `toolchain-rootfs/build.sh`): fast, lighter
//! fidelity (unknown packages are dropped); math as MathML. With `.bib`
//! files, citations are resolved by `--citeproc`.

use super::driver::{CONVERTER_LOG, OUT_DIR};
use super::shell::quote_path;

/// Most `.tex` files given an extension-less alias; a project with more is
/// unusual, and the first ones are the chapters.
pub const MAX_ALIASES: usize = 500;

/// The `sh` snippet, run at the project root, giving every dotted `.tex`
/// file (`chap/chap.01.basics.tex`) a copy under the name without `.tex`
/// unless that name exists. LaTeX reads `\input{chap/chap.01.basics}` as
/// `chap/chap.01.basics.tex`; pandoc takes `.basics` for an extension, adds
/// no `.tex` and drops the chapter (corpus project 23: 15 of 17 chapters).
pub fn include_aliases_script(dotted_tex: &[String]) -> String {
    let mut script = String::new();
    for file in dotted_tex.iter().take(MAX_ALIASES) {
        let Some(alias) = file.strip_suffix(".tex") else {
            continue;
        };
        let (file, alias) = (quote_path(file), quote_path(alias));
        script.push_str(&format!("[ -e {alias} ] || cp {file} {alias}\n"));
    }
    script
}

/// The command, run in the main file's directory. `expand_macros: false`
/// turns off pandoc's expansion of the document's own macros
/// (`latex_macros`): pandoc 3.9 expands a macro whose body names itself
/// forever (`scan::defines_recursive_macro`; corpus project 27 ran out of
/// its budget), where without expansion it finishes in seconds.
///
/// `prelude` names a file of macro definitions read before the main file
/// (`convert::macros`).
pub fn command(main: &str, has_bib: bool, expand_macros: bool, prelude: Option<&str>) -> String {
    let citeproc = if has_bib { " --citeproc" } else { "" };
    let prelude = prelude.map_or_else(String::new, |p| format!("{} ", quote_path(p)));
    let from = if expand_macros {
        "latex"
    } else {
        "latex-latex_macros"
    };
    format!(
        "pandoc --from={from} --to=html5 --standalone --mathml{citeproc} --resource-path=. \
         --output=/job/{OUT_DIR}/index.html {prelude}{main} </dev/null >/job/{CONVERTER_LOG} 2>&1",
        main = quote_path(main),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The aliases, made by a real `sh` in a real directory: a dotted
    /// chapter gets its alias, an existing file of the alias name is kept.
    #[test]
    fn dotted_tex_files_get_extensionless_copies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("chap")).unwrap();
        std::fs::write(dir.path().join("chap/a.b.tex"), "chapter").unwrap();
        std::fs::write(dir.path().join("c.d.tex"), "new").unwrap();
        std::fs::write(dir.path().join("c.d"), "kept").unwrap();
        let script = include_aliases_script(&["chap/a.b.tex".into(), "c.d.tex".into()]);
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("chap/a.b"), "chapter");
        assert_eq!(read("c.d"), "kept");
        let many: Vec<String> = (0..1000).map(|i| format!("x.{i}.tex")).collect();
        assert_eq!(include_aliases_script(&many).lines().count(), MAX_ALIASES);
    }

    #[test]
    fn mathml_and_citeproc_when_bib() {
        let c = command("a.tex", true, true, None);
        assert!(c.contains("--mathml --citeproc"));
        assert!(c.contains("--from=latex "));
        assert!(!command("a.tex", false, true, None).contains("citeproc"));
        assert!(command("a.tex", false, false, None).contains("--from=latex-latex_macros "));
        assert!(command("a.tex", false, true, Some("/job/p.tex"))
            .contains("index.html '/job/p.tex' 'a.tex'"));
    }
}
