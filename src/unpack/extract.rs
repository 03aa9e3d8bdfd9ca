//! The part every format shares: counts entries and bytes against the
//! limits (bytes as actually read, never as declared), claims names,
//! writes files through [`Tree`], hashes them, and finds the project root.

use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use super::names::{EntryName, NameSet};
use super::tar::Trip;
use super::tree::Tree;
use super::{digest, Format, Limits, Project, ProjectFile, UnpackError};

/// How much one read may bring in; big enough to amortise syscalls.
const CHUNK: usize = 128 * 1024;

/// A cap on how far one entry's output may expand, known up front.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RatioBase {
    pub compressed: u64,
}

/// What a file entry wrote: the CRC-32 of its content, for zip's check.
pub(crate) struct Written {
    pub crc32: u32,
}

pub(crate) struct Extractor<'a> {
    limits: &'a Limits,
    tree: Tree,
    names: NameSet,
    entries: u64,
    total: u64,
    files: Vec<ProjectFile>,
    /// The first top-level name seen, and whether any other appeared.
    top: Option<String>,
    many_tops: bool,
    top_has_file: bool,
    buf: Vec<u8>,
}

impl<'a> Extractor<'a> {
    pub fn new(tree: Tree, limits: &'a Limits) -> Self {
        Extractor {
            limits,
            tree,
            names: NameSet::default(),
            entries: 0,
            total: 0,
            files: Vec::new(),
            top: None,
            many_tops: false,
            top_has_file: false,
            buf: vec![0; CHUNK],
        }
    }

    /// Counts one more entry against `max_entries`.
    pub fn count_entry(&mut self) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Claims a name without writing anything (zip checks all names first).
    pub fn claim(&mut self, name: &EntryName, folder: bool) -> Result<(), UnpackError> {
        self.names.claim(&name.path, folder)?;
        let top = name.path.split('/').next().unwrap_or_default();
        match &self.top {
            None => self.top = Some(top.to_string()),
            Some(first) if first != top => self.many_tops = true,
            Some(_) => {}
        }
        if !folder && !name.path.contains('/') {
            self.top_has_file = true;
        }
        Ok(())
    }

    pub fn make_dir(&mut self, name: &EntryName) -> Result<(), UnpackError> {
        self.tree.create_dir_all(&name.path)
    }

    /// Copies `content` into a new file, enforcing the size limits (and the
    /// ratio limit when `ratio` is given) on the bytes as they arrive, and
    /// `declared` (the header's size) as an exact expectation when given.
    pub fn write_file(
        &mut self,
        name: &EntryName,
        executable: bool,
        content: &mut dyn Read,
        ratio: Option<RatioBase>,
        declared: Option<u64>,
    ) -> Result<Written, UnpackError> {
        let mut file = self.tree.create_file(&name.path, executable)?;
        let mut hasher = Sha256::new();
        let mut crc = flate2::Crc::new();
        let mut size = 0u64;
        let entry = || name.path.clone();
        loop {
            let n = match content.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&name.path, e)),
            };
            size += n as u64;
            self.total += n as u64;
            if size > self.limits.max_entry_bytes {
                return Err(UnpackError::EntryTooLarge {
                    entry: entry(),
                    limit: self.limits.max_entry_bytes,
                });
            }
            if self.total > self.limits.max_total_bytes {
                return Err(UnpackError::TooLarge {
                    entry: entry(),
                    limit: self.limits.max_total_bytes,
                });
            }
            if let Some(base) = ratio {
                if ratio_exceeded(size, base.compressed, self.limits) {
                    return Err(UnpackError::RatioExceeded {
                        entry: entry(),
                        limit: self.limits.max_ratio,
                    });
                }
            }
            if declared.is_some_and(|d| size > d) {
                return Err(UnpackError::HeaderMismatch {
                    entry: entry(),
                    detail: format!(
                        "decompresses to more than the {} bytes its header declares",
                        declared.unwrap_or_default()
                    ),
                });
            }
            let chunk = &self.buf[..n];
            hasher.update(chunk);
            crc.update(chunk);
            file.write_all(chunk).map_err(|e| {
                UnpackError::io("cannot write", self.tree.root_path().join(&name.path), e)
            })?;
        }
        if let Some(d) = declared.filter(|&d| d != size) {
            return Err(UnpackError::HeaderMismatch {
                entry: entry(),
                detail: format!("decompresses to {size} bytes but its header declares {d}"),
            });
        }
        self.files.push(ProjectFile {
            path: name.path.clone(),
            size,
            sha256: hex::encode(hasher.finalize()),
        });
        Ok(Written { crc32: crc.sum() })
    }

    /// Removes everything written so far.
    pub fn abandon(mut self) {
        self.tree.clear();
    }

    /// Finds the project root and computes the digest.
    /// An archive of folders only is empty; its folders are removed again.
    pub fn finish(mut self, format: Format) -> Result<Project, UnpackError> {
        if self.files.is_empty() {
            self.tree.clear();
            return Err(UnpackError::EmptyArchive);
        }
        let mut files = self.files;
        let mut root = self.tree.root_path().to_path_buf();
        if let (Some(top), false, false) = (&self.top, self.many_tops, self.top_has_file) {
            root.push(top);
            let prefix_len = top.len() + 1;
            for f in &mut files {
                f.path.drain(..prefix_len);
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let digest = digest::project_digest(&files);
        Ok(Project {
            root,
            files,
            digest,
            format,
        })
    }
}

/// True when `out` bytes from `compressed` bytes is beyond `max_ratio`,
/// ignoring outputs too small to matter.
pub(crate) fn ratio_exceeded(out: u64, compressed: u64, limits: &Limits) -> bool {
    out > limits.ratio_min_bytes && out > compressed.max(1).saturating_mul(limits.max_ratio)
}

/// Maps a failed read of entry data to the rule it breaks.
pub(crate) fn read_error(entry: &str, e: std::io::Error) -> UnpackError {
    match e.get_ref().and_then(|i| i.downcast_ref::<Trip>()) {
        Some(&Trip::Ratio { limit }) => {
            return UnpackError::RatioExceeded {
                entry: entry.to_string(),
                limit,
            }
        }
        Some(&Trip::Size { limit }) => {
            return UnpackError::TooLarge {
                entry: entry.to_string(),
                limit,
            }
        }
        Some(trip @ Trip::Metadata { .. }) => {
            return UnpackError::Corrupt {
                entry: entry.to_string(),
                detail: trip.to_string(),
            }
        }
        None => {}
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => UnpackError::Truncated {
            detail: format!("the data of entry {entry:?} ends early"),
        },
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            UnpackError::Corrupt {
                entry: entry.to_string(),
                detail: e.to_string(),
            }
        }
        _ => UnpackError::io("cannot read entry", entry, e),
    }
}
