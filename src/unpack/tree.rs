//! Writing the unpacked tree: every folder and file is created relative to
//! a directory handle with `O_NOFOLLOW`, files with `O_CREAT | O_EXCL`, so
//! no name can lead a write outside the job directory, whatever is already
//! on disk. On failure everything written is removed again.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::UnpackError;

/// Folder handles kept open at most; beyond that the cache starts over,
/// so a project of many folders cannot exhaust file descriptors.
const MAX_OPEN_DIRS: usize = 256;

/// The destination directory, opened once, and handles to the folders
/// created below it, so each file costs one `openat` of its own.
pub(crate) struct Tree {
    root: OwnedFd,
    root_path: PathBuf,
    dirs: HashMap<String, OwnedFd>,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Tree {
    /// Opens `dest`, which must be an existing, empty directory.
    pub fn open(dest: &Path) -> Result<Tree, UnpackError> {
        let root = rustix::fs::open(dest, DIR_FLAGS, Mode::empty())
            .map_err(|e| UnpackError::io("cannot open destination", dest, e.into()))?;
        let mut entries = std::fs::read_dir(dest)
            .map_err(|e| UnpackError::io("cannot list destination", dest, e))?;
        if entries.next().is_some() {
            return Err(UnpackError::io(
                "destination is not empty:",
                dest,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        Ok(Tree {
            root,
            root_path: dest.to_path_buf(),
            dirs: HashMap::new(),
        })
    }

    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// Creates folder `path` and its parents (mode 0755), never following
    /// a symlink; existing folders are reused.
    pub fn create_dir_all(&mut self, path: &str) -> Result<(), UnpackError> {
        self.dir_handle(path).map(drop)
    }

    /// Creates a new file `path` (mode 0755 when `executable`, else 0644);
    /// fails if anything already has that name.
    pub fn create_file(&mut self, path: &str, executable: bool) -> Result<File, UnpackError> {
        let (parent, leaf) = match path.rsplit_once('/') {
            Some((parent, leaf)) => (Some(parent), leaf),
            None => (None, path),
        };
        let mode = if executable { 0o755 } else { 0o644 };
        let flags = OFlags::WRONLY
            .union(OFlags::CREATE)
            .union(OFlags::EXCL)
            .union(OFlags::NOFOLLOW)
            .union(OFlags::CLOEXEC);
        let fd = match parent {
            Some(parent) => {
                let dir = self.dir_handle(parent)?;
                rustix::fs::openat(dir, leaf, flags, Mode::from_raw_mode(mode))
            }
            None => rustix::fs::openat(&self.root, leaf, flags, Mode::from_raw_mode(mode)),
        }
        .map_err(|e| self.error("cannot create", path, e))?;
        // The umask may have cleared bits; the mode must not depend on it.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| self.error("cannot set mode of", path, e))?;
        Ok(File::from(fd))
    }

    /// Opens (creating as needed) folder `path`, one component at a time
    /// from its deepest ancestor already open.
    fn dir_handle(&mut self, path: &str) -> Result<&OwnedFd, UnpackError> {
        if !self.dirs.contains_key(path) {
            if self.dirs.len() >= MAX_OPEN_DIRS {
                self.dirs.clear();
            }
            let ends: Vec<usize> = path
                .match_indices('/')
                .map(|(i, _)| i)
                .chain(std::iter::once(path.len()))
                .collect();
            let first_missing = (0..ends.len())
                .rev()
                .find(|&k| self.dirs.contains_key(&path[..ends[k]]))
                .map_or(0, |k| k + 1);
            for k in first_missing..ends.len() {
                let start = if k == 0 { 0 } else { ends[k - 1] + 1 };
                let component = &path[start..ends[k]];
                let parent = if k == 0 {
                    &self.root
                } else {
                    &self.dirs[&path[..ends[k - 1]]]
                };
                let created =
                    match rustix::fs::mkdirat(parent, component, Mode::from_raw_mode(0o755)) {
                        Ok(()) => true,
                        Err(rustix::io::Errno::EXIST) => false,
                        Err(e) => return Err(self.error("cannot create folder", path, e)),
                    };
                // O_NOFOLLOW | O_DIRECTORY: an existing symlink or file fails here.
                let fd = rustix::fs::openat(parent, component, DIR_FLAGS, Mode::empty())
                    .map_err(|e| self.error("cannot open folder", path, e))?;
                if created {
                    // The umask may have cleared bits; the jail's user must
                    // be able to read every folder.
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))
                        .map_err(|e| self.error("cannot set mode of", path, e))?;
                }
                self.dirs.insert(path[..ends[k]].to_string(), fd);
            }
        }
        Ok(&self.dirs[path])
    }

    fn error(&self, context: &'static str, path: &str, e: rustix::io::Errno) -> UnpackError {
        UnpackError::io(context, self.root_path.join(path), e.into())
    }

    /// Removes everything below the destination, leaving it empty as it
    /// was given. `remove_dir_all` does not follow symlinks.
    pub fn clear(&mut self) {
        self.dirs.clear();
        let Ok(entries) = std::fs::read_dir(&self.root_path) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let result = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = result {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Symlinks planted in the job directory behind our back (a race, or
    /// a bug elsewhere) are never followed, for folders or files.
    #[test]
    fn planted_symlinks_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut tree = Tree::open(dest.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.path().join("paper")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), dest.path().join("f.tex")).unwrap();
        assert!(tree.create_file("paper/x.tex", false).is_err());
        assert!(tree.create_dir_all("paper/sub").is_err());
        assert!(tree.create_file("f.tex", false).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        tree.clear();
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
        assert!(outside.path().exists());
    }

    #[test]
    fn a_non_empty_destination_is_refused() {
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(dest.path().join("x"), b"x").unwrap();
        assert_eq!(Tree::open(dest.path()).err().unwrap().code(), "io");
    }
}
