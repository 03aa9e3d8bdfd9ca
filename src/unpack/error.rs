//! Why an archive was rejected: one variant per rule, each naming the entry
//! and the limit involved, plus a stable snake_case code for machines.

use std::path::PathBuf;

/// The first rule an archive broke. The whole archive is rejected.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("entry {entry:?} climbs out of the project with a \"..\" or \".\" component")]
    PathTraversal { entry: String },
    #[error("entry {entry:?} has an absolute path or a drive letter; paths must be relative")]
    AbsolutePath { entry: String },
    #[error("entry {entry:?} contains a backslash; only '/' may separate folders")]
    Backslash { entry: String },
    #[error("entry {entry:?} has a bad name: {reason}")]
    BadName { entry: String, reason: String },
    #[error("entry {entry:?} is {bytes} bytes long; the limit is {limit} bytes (max_name_bytes)")]
    NameTooLong {
        entry: String,
        bytes: u64,
        limit: u64,
    },
    #[error("entry {entry:?} is nested {depth} folders deep; the limit is {limit} (max_depth)")]
    TooDeep {
        entry: String,
        depth: u64,
        limit: u64,
    },
    #[error("entry {entry:?} collides with {other:?} (same name after Unicode normalisation and case folding, or a file where a folder is)")]
    DuplicateName { entry: String, other: String },
    #[error("entry {entry:?} is a {kind}; only regular files and folders are accepted")]
    LinkEntry { entry: String, kind: &'static str },
    #[error("entry {entry:?} is a {kind}; only regular files and folders are accepted")]
    SpecialFile { entry: String, kind: &'static str },
    #[error("the archive has more than {limit} entries (max_entries)")]
    TooManyEntries { limit: u64 },
    #[error("the archive decompresses to more than {limit} bytes in total (max_total_bytes); stopped at entry {entry:?}")]
    TooLarge { entry: String, limit: u64 },
    #[error("the archive file is {bytes} bytes; the limit is {limit} bytes (max_archive_bytes)")]
    ArchiveTooLarge { bytes: u64, limit: u64 },
    #[error("entry {entry:?} decompresses to more than {limit} bytes (max_entry_bytes)")]
    EntryTooLarge { entry: String, limit: u64 },
    #[error("entry {entry:?} expands more than {limit} times its compressed size (max_ratio): a decompression bomb")]
    RatioExceeded { entry: String, limit: u64 },
    #[error(
        "entry {entry:?} overlaps the data of entry {other:?}: a zip bomb or a corrupt archive"
    )]
    OverlappingEntries { entry: String, other: String },
    #[error("entry {entry:?}: {detail}")]
    HeaderMismatch { entry: String, detail: String },
    #[error("entry {entry:?} is encrypted; encrypted archives are not accepted")]
    Encrypted { entry: String },
    #[error("entry {entry:?} uses compression method {method}; only stored (0) and deflate (8) are accepted")]
    UnsupportedCompression { entry: String, method: u16 },
    #[error("entry {entry:?} has corrupt data: {detail}")]
    Corrupt { entry: String, detail: String },
    #[error("the archive is truncated: {detail}")]
    Truncated { detail: String },
    #[error("not an archive: {detail}")]
    NotAnArchive { detail: String },
    #[error("the archive holds no files")]
    EmptyArchive,
    #[error("{context}{}: {source}", with_space(path))]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `" <path>"`, or nothing for errors about the archive being read.
fn with_space(path: &std::path::Path) -> String {
    if path.as_os_str().is_empty() {
        String::new()
    } else {
        format!(" {}", path.display())
    }
}

impl UnpackError {
    /// A stable snake_case code per rule, for APIs and the `inspect` report.
    pub fn code(&self) -> &'static str {
        match self {
            UnpackError::PathTraversal { .. } => "path_traversal",
            UnpackError::AbsolutePath { .. } => "absolute_path",
            UnpackError::Backslash { .. } => "backslash",
            UnpackError::BadName { .. } => "bad_name",
            UnpackError::NameTooLong { .. } => "name_too_long",
            UnpackError::TooDeep { .. } => "too_deep",
            UnpackError::DuplicateName { .. } => "duplicate_name",
            UnpackError::LinkEntry { .. } => "link_entry",
            UnpackError::SpecialFile { .. } => "special_file",
            UnpackError::TooManyEntries { .. } => "too_many_entries",
            UnpackError::TooLarge { .. } => "too_large",
            UnpackError::ArchiveTooLarge { .. } => "archive_too_large",
            UnpackError::EntryTooLarge { .. } => "entry_too_large",
            UnpackError::RatioExceeded { .. } => "ratio_exceeded",
            UnpackError::OverlappingEntries { .. } => "overlapping_entries",
            UnpackError::HeaderMismatch { .. } => "header_mismatch",
            UnpackError::Encrypted { .. } => "encrypted",
            UnpackError::UnsupportedCompression { .. } => "unsupported_compression",
            UnpackError::Corrupt { .. } => "corrupt",
            UnpackError::Truncated { .. } => "truncated",
            UnpackError::NotAnArchive { .. } => "not_an_archive",
            UnpackError::EmptyArchive => "empty_archive",
            UnpackError::Io { .. } => "io",
        }
    }

    /// The entry the rule was broken by, when one entry is to blame.
    pub fn entry(&self) -> Option<&str> {
        match self {
            UnpackError::PathTraversal { entry }
            | UnpackError::AbsolutePath { entry }
            | UnpackError::Backslash { entry }
            | UnpackError::BadName { entry, .. }
            | UnpackError::NameTooLong { entry, .. }
            | UnpackError::TooDeep { entry, .. }
            | UnpackError::DuplicateName { entry, .. }
            | UnpackError::LinkEntry { entry, .. }
            | UnpackError::SpecialFile { entry, .. }
            | UnpackError::TooLarge { entry, .. }
            | UnpackError::EntryTooLarge { entry, .. }
            | UnpackError::RatioExceeded { entry, .. }
            | UnpackError::OverlappingEntries { entry, .. }
            | UnpackError::HeaderMismatch { entry, .. }
            | UnpackError::Encrypted { entry }
            | UnpackError::UnsupportedCompression { entry, .. }
            | UnpackError::Corrupt { entry, .. } => Some(entry),
            UnpackError::TooManyEntries { .. }
            | UnpackError::ArchiveTooLarge { .. }
            | UnpackError::Truncated { .. }
            | UnpackError::NotAnArchive { .. }
            | UnpackError::EmptyArchive
            | UnpackError::Io { .. } => None,
        }
    }

    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        UnpackError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
