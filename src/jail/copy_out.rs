//! Copy-out: results leave the job tmpfs only through here. Every path is
//! opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` one component at a time, relative to a
//! directory descriptor of the tmpfs, so nothing the job created can lead
//! outside it. Only directories and regular files with a single link are
//! taken, within a per-file and a total size cap; everything else is
//! skipped and reported. Host files are created with `O_CREAT | O_EXCL |
//! O_NOFOLLOW` under a directory descriptor of the destination.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

use super::outcome::{CopiedFile, SkippedEntry};
use super::{sys, JailError};

/// Deepest directory nesting copied; deeper trees are skipped.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub struct Report {
    pub copied: Vec<CopiedFile>,
    pub skipped: Vec<SkippedEntry>,
}

pub struct Caps {
    pub file_bytes: u64,
    pub total_bytes: u64,
}

/// Opens the host destination: an existing, empty directory that is not a link.
pub fn open_destination(path: &Path) -> Result<OwnedFd, JailError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| JailError::Spec(format!("job_out {}: {e}", path.display())))?;
    let mut entries = std::fs::read_dir(path)
        .map_err(|e| JailError::Spec(format!("job_out {}: {e}", path.display())))?;
    if entries.next().is_some() {
        return Err(JailError::Spec(format!(
            "job_out {} is not empty",
            path.display()
        )));
    }
    Ok(OwnedFd::from(dir))
}

/// Copies the tree under `job` (a descriptor of the tmpfs's `/job`) into `dest`.
pub fn copy_tree(
    job: BorrowedFd<'_>,
    dest: BorrowedFd<'_>,
    caps: &Caps,
) -> Result<Report, JailError> {
    let mut walk = Walk {
        caps,
        total: 0,
        report: Report::default(),
    };
    walk.dir(job, dest, "", 0)?;
    walk.report.copied.sort_by(|a, b| a.path.cmp(&b.path));
    walk.report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk.report)
}

struct Walk<'a> {
    caps: &'a Caps,
    total: u64,
    report: Report,
}

impl Walk<'_> {
    fn skip(&mut self, path: String, reason: impl Into<String>) {
        self.report.skipped.push(SkippedEntry {
            path,
            reason: reason.into(),
        });
    }

    fn dir(
        &mut self,
        src: BorrowedFd<'_>,
        dest: BorrowedFd<'_>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), JailError> {
        let names = list(src)
            .map_err(|e| JailError::Setup(format!("copy-out: cannot list /job/{prefix}: {e}")))?;
        for name in names {
            let shown = String::from_utf8_lossy(name.to_bytes()).into_owned();
            let path = if prefix.is_empty() {
                shown
            } else {
                format!("{prefix}/{shown}")
            };
            // The outcome names files exactly; a name JSON cannot carry
            // as it is would be reported under a different name.
            if std::str::from_utf8(name.to_bytes()).is_err() {
                self.skip(path, "name is not valid UTF-8");
                continue;
            }
            let st = match nix::sys::stat::fstatat(
                Some(src.as_raw_fd()),
                name.as_c_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => st,
                Err(e) => {
                    self.skip(path, format!("cannot stat: {e}"));
                    continue;
                }
            };
            let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
            match kind {
                SFlag::S_IFDIR => self.subdir(src, dest, &name, path, depth)?,
                SFlag::S_IFREG => self.file(src, dest, &name, path)?,
                SFlag::S_IFLNK => self.skip(path, "symbolic link"),
                SFlag::S_IFIFO => self.skip(path, "fifo"),
                SFlag::S_IFSOCK => self.skip(path, "socket"),
                SFlag::S_IFCHR | SFlag::S_IFBLK => self.skip(path, "device node"),
                _ => self.skip(path, "not a regular file"),
            }
        }
        Ok(())
    }

    fn subdir(
        &mut self,
        src: BorrowedFd<'_>,
        dest: BorrowedFd<'_>,
        name: &CStr,
        path: String,
        depth: usize,
    ) -> Result<(), JailError> {
        if depth + 1 > MAX_DEPTH {
            self.skip(
                path,
                format!("directory nested deeper than {MAX_DEPTH} levels"),
            );
            return Ok(());
        }
        let from = match sys::open_beneath(src, name, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) => {
                self.skip(path, format!("cannot open: {e}"));
                return Ok(());
            }
        };
        nix::sys::stat::mkdirat(
            Some(dest.as_raw_fd()),
            name,
            Mode::from_bits_truncate(0o755),
        )
        .map_err(|e| JailError::Setup(format!("copy-out: cannot create {path}: {e}")))?;
        let to = sys::open_at(
            dest,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| JailError::Setup(format!("copy-out: cannot open {path}: {e}")))?;
        self.dir(from.as_fd(), to.as_fd(), &path, depth + 1)
    }

    fn file(
        &mut self,
        src: BorrowedFd<'_>,
        dest: BorrowedFd<'_>,
        name: &CStr,
        path: String,
    ) -> Result<(), JailError> {
        // O_NONBLOCK: should the entry have been swapped for a fifo, opening
        // it must not hang; fstat below rejects it anyway.
        let from = match sys::open_beneath(src, name, libc::O_RDONLY | libc::O_NONBLOCK) {
            Ok(fd) => fd,
            Err(e) => {
                self.skip(path, format!("cannot open: {e}"));
                return Ok(());
            }
        };
        let st = nix::sys::stat::fstat(from.as_raw_fd())
            .map_err(|e| JailError::Setup(format!("copy-out: cannot stat {path}: {e}")))?;
        if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
            self.skip(path, "not a regular file");
            return Ok(());
        }
        if st.st_nlink != 1 {
            self.skip(path, format!("hard link ({} links)", st.st_nlink));
            return Ok(());
        }
        let size = st.st_size as u64;
        if size > self.caps.file_bytes {
            self.skip(
                path,
                format!(
                    "{size} bytes exceed copy_out_file_bytes ({})",
                    self.caps.file_bytes
                ),
            );
            return Ok(());
        }
        if self.total + size > self.caps.total_bytes {
            self.skip(
                path,
                format!("copy_out_total_bytes ({}) reached", self.caps.total_bytes),
            );
            return Ok(());
        }
        let to = sys::open_at(
            dest,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o644,
        )
        .map_err(|e| JailError::Setup(format!("copy-out: cannot create {path}: {e}")))?;
        // Read at most the size checked above, whatever the file claims now.
        let copied = io::copy(&mut File::from(from).take(size), &mut File::from(to))
            .map_err(|e| JailError::Setup(format!("copy-out: cannot copy {path}: {e}")))?;
        self.total += copied;
        self.report.copied.push(CopiedFile {
            path,
            bytes: copied,
        });
        Ok(())
    }
}

/// The entry names of a directory, without `.` and `..`.
fn list(dir: BorrowedFd<'_>) -> nix::Result<Vec<CString>> {
    let mut handle = nix::dir::Dir::openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in handle.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        names.push(name.to_owned());
    }
    // A fixed order makes the total cap take the same files every time.
    names.sort();
    Ok(names)
}
