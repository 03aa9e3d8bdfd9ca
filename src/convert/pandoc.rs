//! pandoc: fast, lighter fidelity (unknown packages are dropped); math as
//! MathML. With `.bib` files, citations are resolved by `--citeproc`.

use super::driver::{CONVERTER_LOG, OUT_DIR};
use super::shell::quote_path;

/// The command, run in the main file's directory.
pub fn command(main: &str, has_bib: bool) -> String {
    let citeproc = if has_bib { " --citeproc" } else { "" };
    format!(
        "pandoc --from=latex --to=html5 --standalone --mathml{citeproc} --resource-path=. \
         --output=/job/{OUT_DIR}/index.html {main} </dev/null >/job/{CONVERTER_LOG} 2>&1",
        main = quote_path(main),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mathml_and_citeproc_when_bib() {
        let c = command("a.tex", true);
        assert!(c.contains("--mathml --citeproc"));
        assert!(!command("a.tex", false).contains("citeproc"));
    }
}
