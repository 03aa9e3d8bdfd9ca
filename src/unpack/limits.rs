//! Archive limits (`[unpack]` section, `TEXJAIL_UNPACK_<NAME>`), sized so a
//! 50 MB arXiv source with 2,000 files passes with room to spare while a
//! decompression bomb is stopped after a few megabytes of work.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most entries (files and directories) an archive may hold.
    pub max_entries: u64,
    /// Most bytes all entries may decompress to, counted as decompressed.
    pub max_total_bytes: u64,
    /// Most bytes one entry may decompress to, counted as decompressed.
    pub max_entry_bytes: u64,
    /// Most bytes the archive file itself may have.
    pub max_archive_bytes: u64,
    /// Highest allowed ratio of decompressed to compressed bytes, per zip
    /// entry and for a whole `.tar.gz` stream. Real sources stay under 20;
    /// deflate bombs run near 1,000.
    pub max_ratio: u64,
    /// Output below this many bytes is never judged by `max_ratio`: tiny
    /// files of blanks compress very well and are harmless.
    pub ratio_min_bytes: u64,
    /// Longest relative path, in bytes of UTF-8.
    pub max_name_bytes: u64,
    /// Deepest nesting of folders (`a/b/c.tex` has depth 3).
    pub max_depth: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_total_bytes: 512 << 20,
            max_entry_bytes: 128 << 20,
            max_archive_bytes: 256 << 20,
            max_ratio: 200,
            ratio_min_bytes: 1 << 20,
            max_name_bytes: 1024,
            max_depth: 32,
        }
    }
}
