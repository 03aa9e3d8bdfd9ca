//! Format detection from content: the first bytes decide, the file name
//! never does (an upload called `paper.zip` may be anything).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Format, UnpackError};

const BLOCK: usize = 512;
/// How much of a would-be `.tex` file is checked for binary bytes.
const TEXT_PROBE: usize = 64 * 1024;

/// The format of the archive at `path`.
pub fn sniff(path: &Path) -> Result<Format, UnpackError> {
    let file = File::open(path).map_err(|e| UnpackError::io("cannot open archive", path, e))?;
    sniff_file(&file)
}

pub(crate) fn sniff_file(file: &File) -> Result<Format, UnpackError> {
    let mut head = vec![0u8; TEXT_PROBE];
    let n = read_up_to(file, &mut head)?;
    let head = &head[..n];
    if head.is_empty() {
        return Err(UnpackError::EmptyArchive);
    }
    // Local header, or the end record alone (an empty zip).
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Format::Zip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut block = [0u8; BLOCK];
        let mut gz = flate2::read::GzDecoder::new(head);
        let got = read_fully(&mut gz, &mut block).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof if n < TEXT_PROBE => UnpackError::Truncated {
                detail: "the gzip stream ends early".into(),
            },
            // A probe-sized window can end mid-stream in a valid archive;
            // let the full read decide.
            std::io::ErrorKind::UnexpectedEof => UnpackError::NotAnArchive {
                detail: "gzip data whose first block does not decompress".into(),
            },
            _ => UnpackError::Corrupt {
                entry: "(gzip stream)".into(),
                detail: e.to_string(),
            },
        })?;
        if got == BLOCK && (is_tar_header(&block) || block.iter().all(|&b| b == 0)) {
            return Ok(Format::TarGz);
        }
        return Err(UnpackError::NotAnArchive {
            detail: "gzip data that does not hold a tar archive".into(),
        });
    }
    if head.len() >= BLOCK {
        let block: &[u8; BLOCK] = head[..BLOCK].try_into().expect("one block");
        if is_tar_header(block)
            || (head.len() >= 2 * BLOCK && head[..2 * BLOCK].iter().all(|&b| b == 0))
        {
            return Ok(Format::Tar);
        }
    }
    // Before TeX: a notebook's JSON is text full of backslashes.
    if looks_like_notebook(head) {
        return Ok(Format::Notebook);
    }
    if looks_like_tex(head) {
        return Ok(Format::Tex);
    }
    Err(UnpackError::NotAnArchive {
        detail: "the upload is neither a zip, tar or tar.gz archive, a TeX file nor a notebook"
            .into(),
    })
}

fn read_up_to(file: &File, buf: &mut [u8]) -> Result<usize, UnpackError> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::io("cannot read archive", "", e)),
        }
    }
    Ok(got)
}

fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A tar header block: its checksum (bytes summed with the checksum field
/// read as spaces) matches the octal number stored in that field.
pub(crate) fn is_tar_header(block: &[u8; BLOCK]) -> bool {
    let field = &block[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if digits.is_empty() {
        return false;
    }
    let Ok(stored) = u64::from_str_radix(std::str::from_utf8(&digits).unwrap_or("x"), 8) else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u64
            } else {
                b as u64
            }
        })
        .sum();
    sum == stored
}

/// A JSON object (after an optional byte-order mark and blanks) whose
/// probe names a notebook's cells: `"cells"` (nbformat 4) or
/// `"worksheets"` (nbformat 3) as a key. Only the start is looked at: the
/// notebook is parsed, and refused when it is not one, in the jail.
fn looks_like_notebook(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    if start.map(|i| head[i]) != Some(b'{') {
        return false;
    }
    let key = |name: &[u8]| {
        head.windows(name.len())
            .enumerate()
            .filter(|(_, w)| *w == name)
            .any(|(i, _)| {
                head[i + name.len()..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    == Some(&b':')
            })
    };
    key(b"\"cells\"") || key(b"\"worksheets\"")
}

/// Text without NUL bytes or other binary control characters that
/// contains at least one backslash: every LaTeX document has one.
fn looks_like_tex(head: &[u8]) -> bool {
    let binary = head
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c));
    !binary && head.contains(&b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_checksum_is_verified() {
        let mut header = tar::Header::new_ustar();
        header.set_path("a.tex").unwrap();
        header.set_size(3);
        header.set_cksum();
        let block: [u8; BLOCK] = header.as_bytes().to_owned();
        assert!(is_tar_header(&block));
        let mut broken = block;
        broken[0] ^= 1;
        assert!(!is_tar_header(&broken));
        assert!(!is_tar_header(&[0u8; BLOCK]));
    }

    #[test]
    fn notebooks_are_told_by_their_keys() {
        assert!(looks_like_notebook(
            b"\xef\xbb\xbf {\n \"cells\": [], \"nbformat\": 4}"
        ));
        assert!(looks_like_notebook(
            b"{\"metadata\": {}, \"worksheets\" : []}"
        ));
        assert!(!looks_like_notebook(b"[{\"cells\": 1}]"));
        assert!(!looks_like_notebook(b"{\"text\": \"cells\"}"));
        assert!(!looks_like_notebook(b"\\documentclass{article} \"cells\":"));
    }

    #[test]
    fn tex_needs_text_and_a_backslash() {
        assert!(looks_like_tex(b"\\documentclass{article}\n"));
        assert!(!looks_like_tex(b"hello world"));
        assert!(!looks_like_tex(b"\\x\0\x01"));
    }
}
