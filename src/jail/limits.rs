//! Resource limits of one jail run: each has a name in the config
//! (`[jail]` section, `TEXJAIL_JAIL_<NAME>`), a default and a test.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit of a run; the whole pid namespace is killed after it.
    pub timeout_secs: u64,
    /// Address-space cap per process (RLIMIT_AS), in bytes.
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_secs: 300,
            memory_bytes: 4 << 30,
        }
    }
}
