//! A project given as a directory (`convert DIR`): walked without following
//! symlinks and copied through the same checks and limits as an archive.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::extract::Extractor;
use super::{names, Limits, UnpackError};

pub(crate) fn import(
    src: &Path,
    out: &mut Extractor<'_>,
    limits: &Limits,
) -> Result<(), UnpackError> {
    let meta =
        std::fs::symlink_metadata(src).map_err(|e| UnpackError::io("cannot read", src, e))?;
    if !meta.is_dir() {
        return Err(UnpackError::NotAnArchive {
            detail: format!("{} is not a directory", src.display()),
        });
    }
    let walk = walkdir::WalkDir::new(src)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name();
    for item in walk {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(src).to_path_buf();
            UnpackError::io("cannot walk", path, e.into())
        })?;
        out.count_entry()?;
        let relative = item
            .path()
            .strip_prefix(src)
            .expect("walkdir stays below its root");
        let raw = relative.as_os_str().as_encoded_bytes();
        let name = names::check(raw, limits)?;
        let kind = item.file_type();
        if kind.is_symlink() {
            return Err(UnpackError::LinkEntry {
                entry: name.path,
                kind: "symbolic link",
            });
        }
        if kind.is_dir() {
            out.claim(&name, true)?;
            out.make_dir(&name)?;
            continue;
        }
        if !kind.is_file() {
            return Err(UnpackError::SpecialFile {
                entry: name.path,
                kind: "special file (device, FIFO or socket)",
            });
        }
        // O_NOFOLLOW: a file swapped for a symlink after the walk is refused.
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(item.path())
            .map_err(|e| UnpackError::io("cannot open", item.path(), e))?;
        let meta = file
            .metadata()
            .map_err(|e| UnpackError::io("cannot stat", item.path(), e))?;
        if !meta.is_file() {
            return Err(UnpackError::SpecialFile {
                entry: name.path,
                kind: "special file (device, FIFO or socket)",
            });
        }
        // A second name for the same inode is a link like any other.
        if meta.nlink() > 1 {
            return Err(UnpackError::LinkEntry {
                entry: name.path,
                kind: "hard link",
            });
        }
        let executable = meta.permissions().mode() & 0o111 != 0;
        out.claim(&name, false)?;
        out.write_file(&name, executable, &mut BufReader::new(file), None, None)?;
    }
    Ok(())
}
