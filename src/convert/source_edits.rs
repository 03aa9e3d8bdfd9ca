//! Byte-range edits of the project's sources, made in the jail before
//! pandoc reads them: rendered pictures in place of their TikZ code
//! (`pictures`) and images taken out of commands pandoc drops
//! (`wrappers`). The host works out the ranges; the script copies the
//! bytes between them with `head -c`/`tail -c` and writes only fixed
//! replacement text, so no upload text is ever pasted into it.

use super::driver::{OUT_DIR, WORK_DIR};
use super::shell::quote;

/// What goes in place of an edit's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// Fixed text (braces, an `\includegraphics` of a known name).
    Text(&'static str),
    /// Picture `n` of the pre-pass: its SVG when it rendered, otherwise the
    /// original bytes.
    Picture(usize),
}

/// Replace bytes `start..end` of `file` (relative to the project root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEdit {
    pub file: String,
    pub start: usize,
    pub end: usize,
    pub with: Replacement,
}

/// Where the rendered pictures are, below `OUT_DIR`; the `\includegraphics`
/// names it relative to the page, which the assembly resolves against
/// `OUT_DIR` first.
pub const PICTURE_DIR: &str = "texjail-pictures";

/// Most bytes one [`script`] takes. The driver script reaches the jail as
/// one `sh -c` argument, and Linux refuses an argument over 128 KiB
/// (`MAX_ARG_STRLEN`: the run fails at `execve`, with no page): corpus
/// project 40, whose seven `.tex` variants hold 1,190 `{\rm ...}` in
/// math, came to 173 KB before edits were written compactly and capped.
pub const MAX_SCRIPT_BYTES: usize = 64 * 1024;

/// The `sh` snippet, run anywhere, that applies `edits`. Within a file an
/// edit overlapping an earlier one is left out (the earlier one wins), so
/// the copy offsets always move forward. Each edit costs a few bytes (`c`
/// copies a byte range of the file, `t` prints fixed text); past
/// [`MAX_SCRIPT_BYTES`] the remaining edits are left out and their files
/// copied as they are.
pub fn script(edits: &[SourceEdit]) -> String {
    if edits.is_empty() {
        return String::new();
    }
    let mut files: Vec<&str> = edits.iter().map(|e| e.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let tmp = quote(&format!("/job/{WORK_DIR}/source-edit.tmp"));
    let mut s =
        String::from("c() { tail -c +$1 \"$f\" | head -c $2; }\nt() { printf '%s' \"$1\"; }\n");
    for file in files {
        if s.len() >= MAX_SCRIPT_BYTES {
            break;
        }
        let mut in_file: Vec<&SourceEdit> = edits.iter().filter(|e| e.file == file).collect();
        in_file.sort_by_key(|e| (e.start, e.end));
        let mut end = 0;
        in_file.retain(|e| {
            let keep = e.start >= end && e.end >= e.start;
            if keep {
                end = e.end;
            }
            keep
        });
        s.push_str(&format!(
            "f={}\n{{\nhead -c {} \"$f\"\n",
            quote(&format!("/job/{file}")),
            in_file[0].start
        ));
        for (k, edit) in in_file.iter().enumerate() {
            match edit.with {
                Replacement::Text(text) => s.push_str(&format!("t {}\n", quote(text))),
                Replacement::Picture(n) => {
                    let svg = quote(&format!("/job/{OUT_DIR}/{PICTURE_DIR}/{n}.svg"));
                    s.push_str(&format!(
                        "if [ -s {svg} ]; then t '\\includegraphics{{{PICTURE_DIR}/{n}.svg}}'; \
                         else c {} {}; fi\n",
                        edit.start + 1,
                        edit.end - edit.start
                    ));
                }
            }
            match in_file.get(k + 1) {
                Some(next) if s.len() < MAX_SCRIPT_BYTES => {
                    s.push_str(&format!("c {} {}\n", edit.end + 1, next.start - edit.end));
                }
                _ => {
                    s.push_str(&format!("tail -c +{} \"$f\"\n", edit.end + 1));
                    break;
                }
            }
        }
        s.push_str(&format!("}} >{tmp} && cat {tmp} >\"$f\"\n"));
    }
    s
}

/// `edits` applied to `source` in memory, as the driver's script applies
/// them to files: the unit tests of the modules that find edits read
/// their result through it.
#[cfg(test)]
pub fn apply_text(source: &str, edits: &[SourceEdit]) -> String {
    let mut out = String::new();
    let mut from = 0;
    for edit in edits {
        out.push_str(&source[from..edit.start]);
        if let Replacement::Text(text) = edit.with {
            out.push_str(text);
        }
        from = edit.end;
    }
    out.push_str(&source[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(file: &str, start: usize, end: usize, with: Replacement) -> SourceEdit {
        SourceEdit {
            file: file.into(),
            start,
            end,
            with,
        }
    }

    /// The edits, applied by a real `sh` to real files: text replaced,
    /// a rendered picture swapped for its SVG, an unrendered one kept, an
    /// overlapping edit left out, bytes outside the edits unchanged
    /// (including a `'` and a `%` in a file name).
    #[test]
    fn edits_apply_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir_all(job.join(OUT_DIR).join(PICTURE_DIR)).unwrap();
        std::fs::create_dir_all(job.join(WORK_DIR)).unwrap();
        std::fs::write(job.join(OUT_DIR).join(PICTURE_DIR).join("1.svg"), "<svg/>").unwrap();
        let a = "0123456789abcdef";
        let b = "\\wrap{X} tail";
        std::fs::write(job.join("a.tex"), a).unwrap();
        std::fs::write(job.join("it's 5%.tex"), b).unwrap();
        let edits = [
            edit("a.tex", 2, 4, Replacement::Picture(1)),
            edit("a.tex", 3, 6, Replacement::Text("lost")),
            edit("a.tex", 8, 10, Replacement::Picture(2)),
            edit("a.tex", 12, 12, Replacement::Text("+")),
            edit("it's 5%.tex", 0, 6, Replacement::Text("{")),
            edit("it's 5%.tex", 7, 8, Replacement::Text("}")),
        ];
        let script = script(&edits).replace("/job", &job.display().to_string());
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        let read = |p: &str| std::fs::read_to_string(job.join(p)).unwrap();
        assert_eq!(
            read("a.tex"),
            "01\\includegraphics{texjail-pictures/1.svg}456789ab+cdef"
        );
        assert_eq!(read("it's 5%.tex"), "{X} tail");
    }

    /// A project with more edits than the budget: the script stays under
    /// it (with room for the rest of the driver under Linux's 128 KiB
    /// argument limit), the first edits are made and the file is whole.
    #[test]
    fn edits_past_the_budget_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir_all(job.join(WORK_DIR)).unwrap();
        let source = "x".repeat(40_000);
        std::fs::write(job.join("a.tex"), &source).unwrap();
        let edits: Vec<SourceEdit> = (0..20_000)
            .map(|i| edit("a.tex", 2 * i, 2 * i, Replacement::Text("y")))
            .collect();
        let script = script(&edits);
        assert!(script.len() < MAX_SCRIPT_BYTES + 200, "{}", script.len());
        let script = script.replace("/job", &job.display().to_string());
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let out = std::fs::read_to_string(job.join("a.tex")).unwrap();
        assert!(out.starts_with("yxxyxxyxx"), "{}", &out[..20]);
        assert_eq!(out.matches('x').count(), 40_000, "no byte lost");
        let made = out.matches('y').count();
        assert!(made > 1000 && made < 20_000, "{made}");
    }

    #[test]
    fn no_edits_no_script() {
        assert!(script(&[]).is_empty());
    }
}
