//! Zip intake, read by hand rather than through the `zip` crate, whose
//! extraction collapses duplicate names, decodes names it cannot read as
//! CP437 and trusts declared sizes. Everything the central directory says
//! is checked before a byte is written: names, types, encryption, methods,
//! declared sizes, agreement with each local header, and that no entry's
//! bytes overlap another's (the overlapping-entry bomb). Data is then
//! inflated entry by entry with every byte counted as it arrives.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use super::extract::{ratio_exceeded, Extractor, RatioBase};
use super::names::{self, EntryName};
use super::{Limits, UnpackError};

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;

const EOCD_LEN: u64 = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
const METHOD_AES: u16 = 99;

/// One central-directory record, names and types already checked.
struct Entry {
    name: EntryName,
    folder: bool,
    executable: bool,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
    zip64: bool,
    /// Filled in by the local-header check.
    data_start: u64,
    /// End of the data and any data descriptor.
    span_end: u64,
}

/// Validates and unpacks a zip archive into `out`.
pub(crate) fn unpack(
    file: &File,
    out: &mut Extractor<'_>,
    limits: &Limits,
) -> Result<(), UnpackError> {
    let len = file
        .metadata()
        .map_err(|e| UnpackError::io("cannot stat archive", "", e))?
        .len();
    let directory = find_directory(file, len)?;
    if directory.entries > limits.max_entries {
        return Err(UnpackError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut entries = read_central(file, &directory, out, limits)?;
    // Structure before sizes: an overlapping bomb is named as one even
    // when its declared sizes would also break a limit.
    for entry in &mut entries {
        check_local_header(file, entry)?;
    }
    check_overlaps(&mut entries, directory.offset)?;
    check_declared_sizes(&entries, limits)?;
    // Sorted by offset now: read the file front to back through one
    // buffer, skipping forward over headers without dropping it.
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    // The handle's offset was moved by reading the central directory.
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| UnpackError::io("cannot seek in archive", "", e))?;
    let mut position = 0u64;
    for entry in &entries {
        if entry.folder {
            out.make_dir(&entry.name)?;
            continue;
        }
        let skip = i64::try_from(entry.data_start - position).expect("entries are sorted");
        reader
            .seek_relative(skip)
            .map_err(|e| UnpackError::io("cannot seek in archive", "", e))?;
        let ratio = Some(RatioBase {
            compressed: entry.compressed,
        });
        let raw = (&mut reader).take(entry.compressed);
        let (written, unread) = if entry.method == METHOD_DEFLATE {
            let mut inflate = flate2::bufread::DeflateDecoder::new(raw);
            let written = out.write_file(
                &entry.name,
                entry.executable,
                &mut inflate,
                ratio,
                Some(entry.size),
            )?;
            (written, inflate.get_ref().limit())
        } else {
            let mut raw = raw;
            let written = out.write_file(
                &entry.name,
                entry.executable,
                &mut raw,
                ratio,
                Some(entry.size),
            )?;
            (written, raw.limit())
        };
        // Bytes after the end of a deflate stream but inside the entry
        // are where a second, hidden stream would sit.
        if unread != 0 {
            return Err(UnpackError::Corrupt {
                entry: entry.name.path.clone(),
                detail: format!(
                    "{unread} bytes of its compressed data follow the end of the stream"
                ),
            });
        }
        position = entry.data_start + entry.compressed;
        if written.crc32 != entry.crc32 {
            return Err(UnpackError::Corrupt {
                entry: entry.name.path.clone(),
                detail: format!(
                    "CRC-32 is {:08x} but the header says {:08x}",
                    written.crc32, entry.crc32
                ),
            });
        }
    }
    Ok(())
}

/// Where the central directory is, from the end records.
struct Directory {
    entries: u64,
    offset: u64,
    size: u64,
}

fn truncated(detail: &str) -> UnpackError {
    UnpackError::Truncated {
        detail: detail.to_string(),
    }
}

fn read_at(file: &File, offset: u64, buf: &mut [u8], what: &str) -> Result<(), UnpackError> {
    file.read_exact_at(buf, offset).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            truncated(&format!("{what} lies past the end of the file"))
        }
        _ => UnpackError::io("cannot read archive", "", e),
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Finds the end-of-central-directory record: the one whose comment runs
/// exactly to the end of the file (a comment may itself contain the
/// signature), then the zip64 records if the archive needs them.
fn find_directory(file: &File, len: u64) -> Result<Directory, UnpackError> {
    if len < EOCD_LEN {
        return Err(truncated(
            "too short to hold the end of central directory record",
        ));
    }
    let tail_len = len.min(EOCD_LEN + u16::MAX as u64);
    let mut tail = vec![0u8; tail_len as usize];
    read_at(file, len - tail_len, &mut tail, "the end record")?;
    let found = (0..=tail.len() - EOCD_LEN as usize).rev().find(|&at| {
        u32_at(&tail, at) == EOCD_SIG
            && at + EOCD_LEN as usize + u16_at(&tail, at + 20) as usize == tail.len()
    });
    let Some(at) = found else {
        return Err(truncated("the end of central directory record is missing"));
    };
    let eocd_pos = len - tail_len + at as u64;
    let r = &tail[at..];
    let (disk, cd_disk) = (u16_at(r, 4), u16_at(r, 6));
    let (on_disk, total) = (u16_at(r, 8) as u64, u16_at(r, 10) as u64);
    let (size, offset) = (u32_at(r, 12) as u64, u32_at(r, 16) as u64);
    let mut directory = Directory {
        entries: total,
        offset,
        size,
    };
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(not_supported("multi-volume zip archives are not accepted"));
    }
    let saturated =
        on_disk == 0xFFFF || total == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF;
    let mut directory_end = eocd_pos;
    // Writers that stream (Info-ZIP reading stdin) add zip64 records even
    // when the classic fields would do; when present, they are the truth.
    let mut locator = [0u8; 20];
    let has_locator = eocd_pos >= 20
        && read_at(file, eocd_pos - 20, &mut locator, "the zip64 locator").is_ok()
        && u32_at(&locator, 0) == ZIP64_LOCATOR_SIG;
    if saturated && !has_locator {
        return Err(truncated("the zip64 locator is missing"));
    }
    if has_locator {
        let z64_pos = u64_at(&locator, 8);
        if z64_pos
            .checked_add(56)
            .map_or(true, |end| end > eocd_pos - 20)
        {
            return Err(truncated("the zip64 end record lies outside the file"));
        }
        let mut z = [0u8; 56];
        read_at(file, z64_pos, &mut z, "the zip64 end record")?;
        if u32_at(&z, 0) != ZIP64_EOCD_SIG {
            return Err(truncated("the zip64 end record is missing"));
        }
        if u32_at(&z, 16) != 0 || u32_at(&z, 20) != 0 || u64_at(&z, 24) != u64_at(&z, 32) {
            return Err(not_supported("multi-volume zip archives are not accepted"));
        }
        let z64 = Directory {
            entries: u64_at(&z, 32),
            size: u64_at(&z, 40),
            offset: u64_at(&z, 48),
        };
        // Classic fields that are not saturated must say the same.
        let agrees = (total == 0xFFFF || total == z64.entries)
            && (size == 0xFFFF_FFFF || size == z64.size)
            && (offset == 0xFFFF_FFFF || offset == z64.offset);
        if !agrees {
            return Err(UnpackError::HeaderMismatch {
                entry: "(central directory)".into(),
                detail: "the end record and the zip64 end record disagree".into(),
            });
        }
        directory = z64;
        directory_end = z64_pos;
    }
    // The directory must end where the end records begin: data before or
    // between them (a self-extracting stub, a second archive) is refused.
    if directory.offset.checked_add(directory.size) != Some(directory_end) {
        return Err(UnpackError::HeaderMismatch {
            entry: "(central directory)".into(),
            detail: format!(
                "the end record places the central directory at bytes {}..{} but it must end at {}",
                directory.offset,
                directory.offset.saturating_add(directory.size),
                directory_end
            ),
        });
    }
    Ok(directory)
}

fn not_supported(detail: &str) -> UnpackError {
    UnpackError::NotAnArchive {
        detail: detail.to_string(),
    }
}

/// Reads every central record, checking each name and type as it comes.
fn read_central(
    file: &File,
    directory: &Directory,
    out: &mut Extractor<'_>,
    limits: &Limits,
) -> Result<Vec<Entry>, UnpackError> {
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(directory.offset))
        .map_err(|e| UnpackError::io("cannot seek in archive", "", e))?;
    let mut reader = reader.take(directory.size);
    let short = || truncated("the central directory ends in the middle of a record");
    let mut entries = Vec::with_capacity(directory.entries.min(4096) as usize);
    let mut fixed = [0u8; CENTRAL_LEN];
    for _ in 0..directory.entries {
        out.count_entry()?;
        reader.read_exact(&mut fixed).map_err(|_| short())?;
        if u32_at(&fixed, 0) != CENTRAL_SIG {
            return Err(UnpackError::HeaderMismatch {
                entry: "(central directory)".into(),
                detail: format!(
                    "record {} has no central header signature",
                    entries.len() + 1
                ),
            });
        }
        let name_len = u16_at(&fixed, 28) as usize;
        let extra_len = u16_at(&fixed, 30) as usize;
        let comment_len = u16_at(&fixed, 32) as u64;
        let mut raw_name = vec![0u8; name_len];
        reader.read_exact(&mut raw_name).map_err(|_| short())?;
        let mut extra = vec![0u8; extra_len];
        reader.read_exact(&mut extra).map_err(|_| short())?;
        std::io::copy(&mut (&mut reader).take(comment_len), &mut std::io::sink())
            .ok()
            .filter(|&n| n == comment_len)
            .ok_or_else(short)?;
        let name = names::check(&raw_name, limits)?;
        let shown = || name.path.clone();
        let flags = u16_at(&fixed, 8);
        let method = u16_at(&fixed, 10);
        if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 || method == METHOD_AES {
            return Err(UnpackError::Encrypted { entry: shown() });
        }
        if method != METHOD_STORED && method != METHOD_DEFLATE {
            return Err(UnpackError::UnsupportedCompression {
                entry: shown(),
                method,
            });
        }
        let mut compressed = u32_at(&fixed, 20) as u64;
        let mut size = u32_at(&fixed, 24) as u64;
        let mut local_offset = u32_at(&fixed, 42) as u64;
        let zip64 = size == 0xFFFF_FFFF || compressed == 0xFFFF_FFFF || local_offset == 0xFFFF_FFFF;
        if zip64 {
            let z = zip64_fields(&extra).ok_or_else(|| UnpackError::HeaderMismatch {
                entry: shown(),
                detail: "its sizes need a zip64 extra field that is missing".into(),
            })?;
            let mut values = z.iter().copied();
            let mut take = |slot: &mut u64| -> Result<(), UnpackError> {
                if *slot == 0xFFFF_FFFF {
                    *slot = values.next().ok_or_else(|| UnpackError::HeaderMismatch {
                        entry: shown(),
                        detail: "its zip64 extra field is too short".into(),
                    })?;
                }
                Ok(())
            };
            take(&mut size)?;
            take(&mut compressed)?;
            take(&mut local_offset)?;
        }
        if local_offset >= directory.offset {
            return Err(UnpackError::HeaderMismatch {
                entry: shown(),
                detail: format!(
                    "its local header offset {local_offset} is not before the central directory"
                ),
            });
        }
        let host = (u16_at(&fixed, 4) >> 8) as u8;
        let external = u32_at(&fixed, 38);
        let (folder, executable) = entry_type(&name, host, external)?;
        if folder && size != 0 {
            return Err(UnpackError::HeaderMismatch {
                entry: shown(),
                detail: format!("it is a folder but declares {size} bytes of content"),
            });
        }
        out.claim(&name, folder)?;
        entries.push(Entry {
            name,
            folder,
            executable,
            flags,
            method,
            crc32: u32_at(&fixed, 16),
            compressed,
            size,
            local_offset,
            zip64,
            data_start: 0,
            span_end: 0,
        });
    }
    if reader.limit() != 0 {
        return Err(UnpackError::HeaderMismatch {
            entry: "(central directory)".into(),
            detail: format!(
                "the end record counts {} entries but the central directory holds more",
                directory.entries
            ),
        });
    }
    Ok(entries)
}

/// The 8-byte values of the zip64 extended-information extra field (0x0001).
fn zip64_fields(extra: &[u8]) -> Option<Vec<u64>> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at);
        let len = u16_at(extra, at + 2) as usize;
        let body = extra.get(at + 4..at + 4 + len)?;
        if id == 0x0001 {
            return Some(body.chunks_exact(8).map(|c| u64_at(c, 0)).collect());
        }
        at += 4 + len;
    }
    None
}

/// Folder or file (and executable?), from the name and the attributes.
/// Unix hosts store the `st_mode` in the high half of the external
/// attributes: links, devices, FIFOs and sockets are refused there.
fn entry_type(name: &EntryName, host: u8, external: u32) -> Result<(bool, bool), UnpackError> {
    const UNIX: u8 = 3;
    const MACOS: u8 = 19;
    const DOS_DIRECTORY: u32 = 0x10;
    let entry = || name.path.clone();
    let mut folder_attr = false;
    let mut executable = false;
    if host == UNIX || host == MACOS {
        let mode = external >> 16;
        executable = mode & 0o111 != 0;
        match mode & 0o170_000 {
            0 | 0o100_000 => {}
            0o040_000 => folder_attr = true,
            0o120_000 => {
                return Err(UnpackError::LinkEntry {
                    entry: entry(),
                    kind: "symbolic link",
                })
            }
            0o010_000 => return Err(special(name, "FIFO")),
            0o020_000 => return Err(special(name, "character device")),
            0o060_000 => return Err(special(name, "block device")),
            0o140_000 => return Err(special(name, "socket")),
            _ => return Err(special(name, "file of unknown type")),
        }
    } else if external & DOS_DIRECTORY != 0 {
        folder_attr = true;
    }
    if folder_attr && !name.trailing_slash {
        return Err(UnpackError::HeaderMismatch {
            entry: entry(),
            detail: "its attributes mark a folder but its name does not end in '/'".into(),
        });
    }
    let folder = name.trailing_slash;
    Ok((folder, executable && !folder))
}

fn special(name: &EntryName, kind: &'static str) -> UnpackError {
    UnpackError::SpecialFile {
        entry: name.path.clone(),
        kind,
    }
}

/// Up-front refusals from declared sizes, so a bomb is stopped before any
/// inflating. Sizes are still counted as decompressed later: a header that
/// understates is caught then.
fn check_declared_sizes(entries: &[Entry], limits: &Limits) -> Result<(), UnpackError> {
    let mut total = 0u64;
    for e in entries {
        if e.size > limits.max_entry_bytes {
            return Err(UnpackError::EntryTooLarge {
                entry: e.name.path.clone(),
                limit: limits.max_entry_bytes,
            });
        }
        if ratio_exceeded(e.size, e.compressed, limits) {
            return Err(UnpackError::RatioExceeded {
                entry: e.name.path.clone(),
                limit: limits.max_ratio,
            });
        }
        if e.method == METHOD_STORED && e.size != e.compressed {
            return Err(UnpackError::HeaderMismatch {
                entry: e.name.path.clone(),
                detail: format!(
                    "it is stored uncompressed yet declares {} bytes compressed and {} bytes uncompressed",
                    e.compressed, e.size
                ),
            });
        }
        total = total.saturating_add(e.size);
        if total > limits.max_total_bytes {
            return Err(UnpackError::TooLarge {
                entry: e.name.path.clone(),
                limit: limits.max_total_bytes,
            });
        }
    }
    Ok(())
}

/// Reads the local header of `entry` and checks it against the central
/// record: signature, name, flags, method and (unless a data descriptor
/// follows) CRC and sizes. Sets where the data starts and ends.
fn check_local_header(file: &File, entry: &mut Entry) -> Result<(), UnpackError> {
    let mismatch = |detail: String| UnpackError::HeaderMismatch {
        entry: entry.name.path.clone(),
        detail,
    };
    let mut fixed = [0u8; LOCAL_LEN];
    read_at(file, entry.local_offset, &mut fixed, "a local header")?;
    if u32_at(&fixed, 0) != LOCAL_SIG {
        return Err(mismatch(format!(
            "no local header at offset {} where the central directory points",
            entry.local_offset
        )));
    }
    let name_len = u16_at(&fixed, 26) as usize;
    let extra_len = u16_at(&fixed, 28) as usize;
    let mut variable = vec![0u8; name_len + extra_len];
    read_at(
        file,
        entry.local_offset + LOCAL_LEN as u64,
        &mut variable,
        "a local header",
    )?;
    let (raw_name, extra) = variable.split_at(name_len);
    let central_name = entry.name.path.as_bytes();
    let local_matches = raw_name == central_name
        || (entry.name.trailing_slash && raw_name.strip_suffix(b"/") == Some(central_name));
    if !local_matches {
        return Err(mismatch(format!(
            "the local header names it {:?}",
            names::display(raw_name)
        )));
    }
    let flags = u16_at(&fixed, 6);
    if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 {
        return Err(UnpackError::Encrypted {
            entry: entry.name.path.clone(),
        });
    }
    if flags & FLAG_DESCRIPTOR != entry.flags & FLAG_DESCRIPTOR {
        return Err(mismatch(
            "local and central headers disagree about a data descriptor".into(),
        ));
    }
    let method = u16_at(&fixed, 8);
    if method != entry.method {
        return Err(mismatch(format!(
            "the local header says compression method {method}, the central directory {}",
            entry.method
        )));
    }
    let crc = u32_at(&fixed, 14);
    let mut compressed = u32_at(&fixed, 18) as u64;
    let mut size = u32_at(&fixed, 22) as u64;
    if size == 0xFFFF_FFFF || compressed == 0xFFFF_FFFF {
        if let Some(z) = zip64_fields(extra) {
            let mut values = z.into_iter();
            if size == 0xFFFF_FFFF {
                size = values.next().unwrap_or(0);
            }
            if compressed == 0xFFFF_FFFF {
                compressed = values.next().unwrap_or(0);
            }
        }
    }
    let descriptor = flags & FLAG_DESCRIPTOR != 0;
    // With a data descriptor a writer may leave any of the local fields
    // zero (Info-ZIP writing to a pipe fills in only the size); those it
    // fills in must still agree.
    let agrees = |local: u64, central: u64| local == central || (descriptor && local == 0);
    if !(agrees(crc.into(), entry.crc32.into())
        && agrees(compressed, entry.compressed)
        && agrees(size, entry.size))
    {
        return Err(mismatch(format!(
            "the local header declares {compressed} bytes compressed, {size} uncompressed, CRC {crc:08x}; \
             the central directory {} compressed, {} uncompressed, CRC {:08x}",
            entry.compressed, entry.size, entry.crc32
        )));
    }
    entry.data_start = entry.local_offset + (LOCAL_LEN + name_len + extra_len) as u64;
    let data_end = entry
        .data_start
        .checked_add(entry.compressed)
        .ok_or_else(|| truncated("an entry's data lies past the end of the file"))?;
    entry.span_end = data_end;
    if descriptor {
        entry.span_end = data_end + check_descriptor(file, entry, data_end)?;
    }
    Ok(())
}

/// Checks the data descriptor after an entry's data; returns its length.
fn check_descriptor(file: &File, entry: &Entry, at: u64) -> Result<u64, UnpackError> {
    let mut buf = [0u8; 24];
    let wide = entry.zip64;
    let body = if wide { 20 } else { 12 };
    read_at(file, at, &mut buf[..4], "a data descriptor")?;
    let signed = u32_at(&buf, 0) == DESCRIPTOR_SIG;
    let start = if signed { at + 4 } else { at };
    read_at(file, start, &mut buf[..body], "a data descriptor")?;
    let (crc, compressed, size) = if wide {
        (u32_at(&buf, 0), u64_at(&buf, 4), u64_at(&buf, 12))
    } else {
        (
            u32_at(&buf, 0),
            u32_at(&buf, 4) as u64,
            u32_at(&buf, 8) as u64,
        )
    };
    if crc != entry.crc32 || compressed != entry.compressed || size != entry.size {
        return Err(UnpackError::HeaderMismatch {
            entry: entry.name.path.clone(),
            detail: "its data descriptor disagrees with the central directory".into(),
        });
    }
    Ok(body as u64 + if signed { 4 } else { 0 })
}

/// Sorts entries by position and refuses any whose header or data starts
/// before the previous one ends, or runs into the central directory.
fn check_overlaps(entries: &mut [Entry], directory_offset: u64) -> Result<(), UnpackError> {
    entries.sort_by_key(|e| e.local_offset);
    for pair in entries.windows(2) {
        if pair[1].local_offset < pair[0].span_end {
            return Err(UnpackError::OverlappingEntries {
                entry: pair[1].name.path.clone(),
                other: pair[0].name.path.clone(),
            });
        }
    }
    if let Some(last) = entries.iter().find(|e| e.span_end > directory_offset) {
        return Err(UnpackError::OverlappingEntries {
            entry: last.name.path.clone(),
            other: "(central directory)".into(),
        });
    }
    Ok(())
}
