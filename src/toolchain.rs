//! The toolchain rootfs as the binary knows it: the digest it expects
//! (computed from the build inputs compiled into the binary) and where the
//! built tree lives. `toolchain-rootfs/build.sh` computes the same digest.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The build inputs, in the order the digest covers them.
const INPUTS: [(&str, &str); 3] = [
    ("build.sh", include_str!("../toolchain-rootfs/build.sh")),
    (
        "packages.txt",
        include_str!("../toolchain-rootfs/packages.txt"),
    ),
    ("texmf.cnf", include_str!("../toolchain-rootfs/texmf.cnf")),
];

/// Where build.sh caches built trees by default.
pub const CACHE_DIR: &str = "/var/cache/texjail";
/// Marker written last by build.sh: the digest of a finished tree.
pub const DIGEST_MARKER: &str = ".texjail/digest";
/// Package versions recorded by build.sh.
pub const MANIFEST: &str = ".texjail/manifest.tsv";

/// sha256 over the build inputs, the same value as
/// `(cd toolchain-rootfs && sha256sum build.sh packages.txt texmf.cnf) | sha256sum`.
pub fn expected_digest() -> String {
    let mut listing = String::new();
    for (name, text) in INPUTS {
        listing.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(text))));
    }
    hex::encode(Sha256::digest(listing))
}

/// `/var/cache/texjail/rootfs-<first 16 hex digits of the digest>`.
pub fn default_rootfs_path() -> PathBuf {
    Path::new(CACHE_DIR).join(format!("rootfs-{}", &expected_digest()[..16]))
}

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("no finished rootfs at {0}: build it with toolchain-rootfs/build.sh (or set TEXJAIL_ROOTFS)")]
    Missing(PathBuf),
    #[error("rootfs at {path} was built for digest {found}, this binary expects {expected}: rebuild with toolchain-rootfs/build.sh")]
    Stale {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// A finished rootfs whose digest matches this binary's build inputs.
#[derive(Debug, Clone)]
pub struct Rootfs {
    pub path: PathBuf,
    pub digest: String,
}

impl Rootfs {
    /// Checks the marker build.sh writes last; takes microseconds.
    pub fn open(path: &Path) -> Result<Rootfs, RootfsError> {
        let found = std::fs::read_to_string(path.join(DIGEST_MARKER))
            .map_err(|_| RootfsError::Missing(path.to_path_buf()))?;
        let found = found.trim().to_string();
        let expected = expected_digest();
        if found != expected {
            return Err(RootfsError::Stale {
                path: path.to_path_buf(),
                found,
                expected,
            });
        }
        Ok(Rootfs {
            path: path.to_path_buf(),
            digest: found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_build_script_formula() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchain-rootfs");
        let out = std::process::Command::new("bash")
            .arg(dir.join("build.sh"))
            .arg("--print-digest")
            .output()
            .expect("run build.sh --print-digest");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected_digest()
        );
    }

    #[test]
    fn empty_directory_is_missing_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = Rootfs::open(dir.path()).unwrap_err();
        assert!(matches!(err, RootfsError::Missing(_)));
        assert!(err.to_string().contains("build.sh"));
    }

    #[test]
    fn other_digest_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".texjail")).unwrap();
        std::fs::write(dir.path().join(DIGEST_MARKER), "0000\n").unwrap();
        assert!(matches!(
            Rootfs::open(dir.path()).unwrap_err(),
            RootfsError::Stale { .. }
        ));
    }
}
