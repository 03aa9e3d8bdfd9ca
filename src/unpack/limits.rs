//! Archive limits (`[unpack]` section, `TEXJAIL_UNPACK_<NAME>`), sized so a
//! 50 MB arXiv source with 2,000 files passes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most entries (files and directories) an archive may hold.
    pub max_entries: u64,
    /// Most bytes all entries may decompress to, counted as decompressed.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_total_bytes: 512 << 20,
        }
    }
}
