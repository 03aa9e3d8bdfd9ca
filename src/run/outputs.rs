//! What a run wrote: the files the copy-out took from `/job`, less the
//! inputs the program left as they came. The copy-out took only regular
//! files with one link and followed no link, so a symlink, FIFO or hard
//! link the program left is never among them (the outcome's `skipped`
//! says why).

use std::path::{Path, PathBuf};

use super::{Program, STDIN_NAME};
use crate::jail::Outcome;

/// One file the program left in `/job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to `/job`, `/`-separated.
    pub name: String,
    pub bytes: u64,
    /// The copy on the host, in the run's copy-out directory.
    pub path: PathBuf,
}

/// The image types a run's files are shown as, by extension.
pub fn image_mime(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

/// The files of `outcome.copied` (copied into `out`) that are not an
/// input left unchanged, in name order.
pub fn written(outcome: &Outcome, out: &Path, program: &Program) -> Vec<Written> {
    let mut written: Vec<Written> = outcome
        .copied
        .iter()
        .filter(|c| c.path != STDIN_NAME)
        .filter(|c| {
            let path = out.join(&c.path);
            !program.files.iter().any(|(name, bytes)| {
                *name == c.path
                    && bytes.len() as u64 == c.bytes
                    && std::fs::read(&path).is_ok_and(|now| now == *bytes)
            })
        })
        .map(|c| Written {
            name: c.path.clone(),
            bytes: c.bytes,
            path: out.join(&c.path),
        })
        .collect();
    written.sort_by(|a, b| a.name.cmp(&b.name));
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_png_jpeg_and_svg_by_extension() {
        assert_eq!(image_mime("figure-1.png"), Some("image/png"));
        assert_eq!(image_mime("a/B.JPG"), Some("image/jpeg"));
        assert_eq!(image_mime("plot.svg"), Some("image/svg+xml"));
        for name in ["x.gif", "x.svg.html", "png", "x.pdf"] {
            assert_eq!(image_mime(name), None, "{name}");
        }
    }
}
