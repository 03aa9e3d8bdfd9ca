//! Safe project intake: validates an uploaded archive entry by entry and
//! unpacks it into a job directory, or rejects it whole and leaves the job
//! directory empty.
//!
//! Formats (sniffed from content, never from the file name): zip, tar,
//! tar.gz, a single bare `.tex` file and a single Jupyter notebook; a project may also be given as a
//! directory ([`import_dir`]). Each rule lives in one small module:
//! `sniff` (format), `names` (paths and collisions), `zip` and `tar` /
//! `tar_frames` (format-specific structure), `extract` (limits, bytes
//! counted as decompressed), `tree` (writing beneath a directory handle),
//! `dir` (project directories), [`digest`] (the project digest) and
//! [`report`] (`texjail inspect`).
//!
//! The `zip` crate's `extract()` is never used: it collapses duplicate
//! names, extracts overlapping entries and trusts declared sizes.

pub mod digest;
mod dir;
mod error;
mod extract;
pub mod limits;
pub mod names;
pub mod report;
mod sniff;
mod tar;
mod tar_frames;
mod tree;
mod zip;

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::UnpackError;
pub use limits::Limits;
pub use names::{has_drive_letter, is_forbidden_char as is_forbidden_name_char};
pub use sniff::sniff;

use extract::Extractor;
use tree::Tree;

/// What an archive held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Zip,
    Tar,
    TarGz,
    Tex,
    /// A bare Jupyter notebook (JSON, told by its first keys).
    Notebook,
    Directory,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::Tex => "tex",
            Format::Notebook => "notebook",
            Format::Directory => "directory",
        })
    }
}

/// One unpacked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectFile {
    /// Relative to [`Project::root`], `/`-separated.
    pub path: String,
    pub size: u64,
    /// Hex sha256 of the content.
    pub sha256: String,
}

/// An accepted, unpacked project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// `dest`, or `dest/<folder>` when every entry sits under one folder.
    pub root: PathBuf,
    /// Sorted by path.
    pub files: Vec<ProjectFile>,
    /// Hex sha256 of the canonical tree (see [`digest`]).
    pub digest: String,
    pub format: Format,
}

/// The name a bare `.tex` upload is stored under.
pub const BARE_TEX_NAME: &str = "main.tex";
/// The name a bare notebook upload is stored under.
pub const BARE_NOTEBOOK_NAME: &str = "notebook.ipynb";

/// Validates `archive` and unpacks it into `dest`, an existing empty
/// directory. On any error `dest` is left empty.
pub fn unpack_file(archive: &Path, dest: &Path, limits: &Limits) -> Result<Project, UnpackError> {
    let file =
        File::open(archive).map_err(|e| UnpackError::io("cannot open archive", archive, e))?;
    let len = file
        .metadata()
        .map_err(|e| UnpackError::io("cannot stat archive", archive, e))?
        .len();
    if len > limits.max_archive_bytes {
        return Err(UnpackError::ArchiveTooLarge {
            bytes: len,
            limit: limits.max_archive_bytes,
        });
    }
    let format = sniff::sniff_file(&file)?;
    let tree = Tree::open(dest)?;
    let mut out = Extractor::new(tree, limits);
    let result = match format {
        Format::Zip => zip::unpack(&file, &mut out, limits),
        Format::Tar => tar::unpack(&file, false, &mut out, limits),
        Format::TarGz => tar::unpack(&file, true, &mut out, limits),
        Format::Tex => unpack_single(BARE_TEX_NAME, &file, &mut out),
        Format::Notebook => unpack_single(BARE_NOTEBOOK_NAME, &file, &mut out),
        Format::Directory => unreachable!("sniffing a file never says directory"),
    };
    finish(result, out, format)
}

/// Copies a project given as a directory into `dest` under the same rules
/// as an archive: no symlinks or special files, names and limits checked.
pub fn import_dir(src: &Path, dest: &Path, limits: &Limits) -> Result<Project, UnpackError> {
    let tree = Tree::open(dest)?;
    let mut out = Extractor::new(tree, limits);
    let result = dir::import(src, &mut out, limits);
    finish(result, out, Format::Directory)
}

fn finish(
    result: Result<(), UnpackError>,
    out: Extractor<'_>,
    format: Format,
) -> Result<Project, UnpackError> {
    match result {
        Ok(()) => {}
        Err(e) => {
            out.abandon();
            return Err(e);
        }
    }
    out.finish(format)
}

/// A single-file upload, stored under `name`.
fn unpack_single(name: &str, file: &File, out: &mut Extractor<'_>) -> Result<(), UnpackError> {
    let name = names::check(name.as_bytes(), &Limits::default())?;
    out.count_entry()?;
    out.claim(&name, false)?;
    let mut reader = std::io::BufReader::new(file);
    out.write_file(&name, false, &mut reader, None, None)?;
    Ok(())
}
