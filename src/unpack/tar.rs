//! Tar and tar.gz intake (arXiv's source format), streamed entry by entry
//! through the `tar` crate's reader; we never call its `unpack`. A gzip
//! stream is watched as a whole for its expansion ratio and size, since a
//! tar entry has no compressed size of its own.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use tar::EntryType;

use super::extract::{ratio_exceeded, read_error, Extractor};
use super::names;
use super::tar_frames::{Frames, META_MAX};
use super::{Limits, UnpackError};

/// Bytes a tar stream may carry beyond its file contents: a header and
/// padding per entry, plus long names and pax records.
const OVERHEAD_PER_ENTRY: u64 = 4 * 512;

/// The io error payload a [`Guard`] trips with, turned back into the
/// matching [`UnpackError`] by `extract::read_error`.
#[derive(Debug)]
pub(crate) enum Trip {
    Ratio {
        limit: u64,
    },
    Size {
        limit: u64,
    },
    /// A long-name or pax record of `size` bytes, over `META_MAX`.
    Metadata {
        size: u64,
    },
}

impl std::fmt::Display for Trip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trip::Ratio { limit } => write!(f, "decompression ratio above {limit}"),
            Trip::Size { limit } => write!(f, "stream larger than {limit} bytes"),
            Trip::Metadata { size } => write!(
                f,
                "a tar long-name or pax record of {size} bytes; the limit is {META_MAX}"
            ),
        }
    }
}

impl std::error::Error for Trip {}

/// Counts the bytes its reader actually consumes (not what the buffer
/// reads ahead), so the ratio is judged on input really decompressed.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.count.set(self.count.get() + amount as u64);
        self.inner.consume(amount);
    }
}

/// Stops a decompressed stream that expands beyond `max_ratio` of the
/// compressed bytes consumed, or grows beyond what the limits allow in
/// total, before the tar reader can buffer it.
struct Guard<R> {
    inner: R,
    compressed: Rc<Cell<u64>>,
    out: u64,
    cap: u64,
    limits: Limits,
    /// Zero bytes at the end of what has been read: a complete tar ends
    /// in at least one zero block, a truncated one usually does not.
    zero_run: Rc<Cell<u64>>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if ratio_exceeded(self.out, self.compressed.get(), &self.limits) {
            return Err(std::io::Error::other(Trip::Ratio {
                limit: self.limits.max_ratio,
            }));
        }
        if self.out > self.cap {
            return Err(std::io::Error::other(Trip::Size {
                limit: self.limits.max_total_bytes,
            }));
        }
        let chunk = &buf[..n];
        match chunk.iter().rposition(|&b| b != 0) {
            Some(last) => self.zero_run.set((n - 1 - last) as u64),
            None => self.zero_run.set(self.zero_run.get() + n as u64),
        }
        Ok(n)
    }
}

/// Validates and unpacks a tar archive, gzip-compressed when `gzip`.
pub(crate) fn unpack(
    file: &File,
    gzip: bool,
    out: &mut Extractor<'_>,
    limits: &Limits,
) -> Result<(), UnpackError> {
    let cap = limits
        .max_total_bytes
        .saturating_add(limits.max_entries.saturating_mul(OVERHEAD_PER_ENTRY))
        .saturating_add(1 << 20);
    let compressed = Rc::new(Cell::new(0));
    let zero_run = Rc::new(Cell::new(0));
    let raw = Counting {
        inner: BufReader::with_capacity(256 * 1024, file),
        count: compressed.clone(),
    };
    let stream: Box<dyn Read> = if gzip {
        Box::new(Guard {
            inner: flate2::bufread::GzDecoder::new(raw),
            compressed,
            out: 0,
            cap,
            limits: limits.clone(),
            zero_run: zero_run.clone(),
        })
    } else {
        // Plain tar does not expand; only the size cap applies.
        Box::new(Guard {
            inner: raw,
            compressed,
            out: 0,
            cap,
            limits: Limits {
                max_ratio: u64::MAX,
                ..limits.clone()
            },
            zero_run: zero_run.clone(),
        })
    };
    let mut archive = tar::Archive::new(Frames::new(stream));
    let entries = archive.entries().map_err(|e| stream_error(None, e))?;
    let mut last_name: Option<String> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(last_name.as_deref(), e))?;
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            continue; // pax global metadata: nothing we use
        }
        out.count_entry()?;
        let raw_name = entry.path_bytes().into_owned();
        // `tar -C dir .` writes `./` and `./x`: the leading `./` is
        // harmless notation, not a traversal. Anything else is judged.
        let trimmed = strip_dot_slash(&raw_name);
        if trimmed.is_empty() && kind == EntryType::Directory {
            continue;
        }
        let name = names::check(trimmed, limits)?;
        last_name = Some(name.path.clone());
        let shown = || name.path.clone();
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                if name.trailing_slash {
                    return Err(UnpackError::HeaderMismatch {
                        entry: shown(),
                        detail: "it is a file but its name ends in '/'".into(),
                    });
                }
                let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                out.claim(&name, false)?;
                let declared = entry.size();
                let mut exact = Exact {
                    inner: &mut entry,
                    left: declared,
                };
                out.write_file(&name, executable, &mut exact, None, None)?;
            }
            EntryType::Directory => {
                out.claim(&name, true)?;
                out.make_dir(&name)?;
            }
            EntryType::Symlink => {
                return Err(UnpackError::LinkEntry {
                    entry: shown(),
                    kind: "symbolic link",
                })
            }
            EntryType::Link => {
                return Err(UnpackError::LinkEntry {
                    entry: shown(),
                    kind: "hard link",
                })
            }
            other => {
                let kind = match other {
                    EntryType::Char => "character device",
                    EntryType::Block => "block device",
                    EntryType::Fifo => "FIFO",
                    EntryType::GNUSparse => "sparse file",
                    _ => "tar entry of an unsupported type",
                };
                return Err(UnpackError::SpecialFile {
                    entry: shown(),
                    kind,
                });
            }
        }
    }
    if zero_run.get() < 512 {
        return Err(UnpackError::Truncated {
            detail: "the tar stream ends without its end-of-archive blocks".into(),
        });
    }
    Ok(())
}

/// Fails with `UnexpectedEof` when an entry's data ends before the size
/// its header gives (a cut-off archive).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

fn strip_dot_slash(mut name: &[u8]) -> &[u8] {
    while let Some(rest) = name.strip_prefix(b"./") {
        name = rest;
    }
    if name == b"." {
        return b"";
    }
    name
}

/// Maps an error from reading tar headers to the rule it breaks.
fn stream_error(after: Option<&str>, e: std::io::Error) -> UnpackError {
    let place = after.map_or("the first entry".to_string(), |n| {
        format!("the entry after {n:?}")
    });
    if e.get_ref().is_some_and(|i| i.is::<Trip>()) {
        return read_error(&place, e);
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => UnpackError::Truncated {
            detail: format!("the archive ends inside {place}"),
        },
        std::io::ErrorKind::Other
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::InvalidInput => UnpackError::Corrupt {
            entry: place,
            detail: e.to_string(),
        },
        _ => UnpackError::io("cannot read archive", "", e),
    }
}
