//! Secrets planted outside the job, and the random tokens that make
//! secrets, markers and names unique per test.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A fresh random token (hex), for secrets, markers and names.
pub fn token() -> String {
    let mut bytes = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    hex::encode(bytes)
}

/// A secret planted in files outside the job: in a world-readable host temp
/// directory (so only the jail, not file modes, keeps a job from it), in
/// /root and in /var/tmp. Removed on drop.
pub struct Canary {
    pub secret: String,
    pub paths: Vec<PathBuf>,
    dir: TempDir,
}

impl Canary {
    pub fn plant() -> Canary {
        let secret = format!("SECRET{}", token());
        let name = format!("texjail-canary-{}", token());
        let dir = tempfile::Builder::new()
            .prefix("texjail-canary-dir")
            .tempdir()
            .expect("canary temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod canary dir");
        let paths = vec![
            dir.path().join(&name),
            PathBuf::from("/root").join(&name),
            PathBuf::from("/var/tmp").join(&name),
        ];
        for path in &paths {
            std::fs::write(path, format!("{secret}\n")).expect("write canary");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                .expect("chmod canary");
        }
        Canary { secret, paths, dir }
    }

    /// The canary a host user other than root can read (the rootless runs'
    /// uid included): only the jail stands between it and a job.
    pub fn world_readable(&self) -> &Path {
        &self.paths[0]
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The paths as a shell word list.
    pub fn shell_words(&self) -> String {
        self.paths
            .iter()
            .map(|p| format!("'{}'", p.display()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The paths as a Python/Perl list literal.
    pub fn list_literal(&self) -> String {
        format!(
            "[{}]",
            self.paths
                .iter()
                .map(|p| format!("'{}'", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        for path in &self.paths[1..] {
            let _ = std::fs::remove_file(path);
        }
    }
}
