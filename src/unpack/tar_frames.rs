//! A watch on the raw tar stream, ahead of the `tar` crate: it follows the
//! block structure (headers, data, padding) and refuses a metadata record
//! (GNU long name or link, pax header) larger than [`META_MAX`] before the
//! crate would buffer it whole in memory. Everything else passes through
//! unchanged; the crate still does the parsing we rely on.

use std::io::Read;

use super::tar::Trip;

/// Largest GNU long-name or pax record accepted. Names are capped far
/// lower by `max_name_bytes`; pax records carry only a few fields.
pub(crate) const META_MAX: u64 = 64 * 1024;

const BLOCK: usize = 512;

enum State {
    /// Collecting the next 512-byte header.
    Header,
    /// Passing over data and padding.
    Skip(u64),
    /// Collecting a pax record, then `padding` bytes.
    Pax { left: u64, padding: u64 },
    /// After the end-of-archive block, or past something we do not follow
    /// (the crate rejects or we refuse the entry before reading further).
    Done,
}

pub(crate) struct Frames<R> {
    inner: R,
    state: State,
    header: [u8; BLOCK],
    filled: usize,
    pax: Vec<u8>,
    /// A pax `size` record overrides the next header's size field.
    pax_size: Option<u64>,
}

impl<R: Read> Frames<R> {
    pub fn new(inner: R) -> Self {
        Frames {
            inner,
            state: State::Header,
            header: [0; BLOCK],
            filled: 0,
            pax: Vec::new(),
            pax_size: None,
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            match &mut self.state {
                State::Done => return Ok(()),
                State::Skip(left) => {
                    let k = (*left).min(data.len() as u64) as usize;
                    *left -= k as u64;
                    data = &data[k..];
                    if *left == 0 {
                        self.state = State::Header;
                    }
                }
                State::Pax { left, padding } => {
                    let k = (*left).min(data.len() as u64) as usize;
                    self.pax.extend_from_slice(&data[..k]);
                    *left -= k as u64;
                    data = &data[k..];
                    if *left == 0 {
                        let padding = *padding;
                        // If we misread the records we could lose track of
                        // the framing; a malformed record ends the upload.
                        self.pax_size = pax_size(&self.pax).ok_or_else(|| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "malformed pax extended header",
                            )
                        })?;
                        self.state = if padding == 0 {
                            State::Header
                        } else {
                            State::Skip(padding)
                        };
                    }
                }
                State::Header => {
                    let k = (BLOCK - self.filled).min(data.len());
                    self.header[self.filled..self.filled + k].copy_from_slice(&data[..k]);
                    self.filled += k;
                    data = &data[k..];
                    if self.filled == BLOCK {
                        self.filled = 0;
                        self.state = self.next_state()?;
                    }
                }
            }
        }
        Ok(())
    }

    fn next_state(&mut self) -> std::io::Result<State> {
        let h = &self.header;
        if h.iter().all(|&b| b == 0) {
            return Ok(State::Done);
        }
        let Some(size) = parse_size(&h[124..136]) else {
            // The crate reports the malformed field itself.
            return Ok(State::Done);
        };
        let padded = |n: u64| n.div_ceil(BLOCK as u64) * BLOCK as u64;
        Ok(match h[156] {
            b'L' | b'K' | b'x' | b'g' if size > META_MAX => {
                return Err(std::io::Error::other(Trip::Metadata { size }));
            }
            b'x' => {
                self.pax.clear();
                State::Pax {
                    left: size,
                    padding: padded(size) - size,
                }
            }
            b'L' | b'K' | b'g' => State::Skip(padded(size)),
            // GNU sparse headers may be followed by extension blocks we
            // do not follow; such entries are refused anyway.
            b'S' => State::Done,
            _ => {
                let size = self.pax_size.take().unwrap_or(size);
                match padded(size) {
                    0 => State::Header,
                    n => State::Skip(n),
                }
            }
        })
    }
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

/// A tar numeric field: octal text, or GNU base-256 when the high bit of
/// the first byte is set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut value: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(value);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// The `size` record of a pax extended header: `Some(None)` when there is
/// none, `None` when the records are malformed.
fn pax_size(records: &[u8]) -> Option<Option<u64>> {
    let mut rest = records;
    let mut found = None;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space || len > rest.len() {
            return None;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"size=") {
            found = Some(std::str::from_utf8(value).ok()?.parse().ok()?);
        }
        rest = &rest[len..];
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_octal_and_base_256() {
        assert_eq!(parse_size(b"00000001750\0"), Some(1000));
        assert_eq!(parse_size(b"     1750 \0\0"), Some(1000));
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[11] = 5;
        b256[10] = 1;
        assert_eq!(parse_size(&b256), Some(261));
    }

    #[test]
    fn pax_size_is_found() {
        assert_eq!(
            pax_size(b"13 size=4096\n18 path=a/b/c.tex\n"),
            Some(Some(4096))
        );
        assert_eq!(pax_size(b"18 path=a/b/c.tex\n"), Some(None));
        assert_eq!(pax_size(b"99 path=a/b/c.tex\n"), None);
    }

    #[test]
    fn a_huge_long_name_record_is_refused_at_its_header() {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(1 << 30);
        header.set_cksum();
        let mut frames = Frames::new(header.as_bytes().as_slice());
        let mut sink = Vec::new();
        let err = frames.read_to_end(&mut sink).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<Trip>()), "{err}");
    }

    #[test]
    fn a_normal_archive_passes_through_unchanged() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        let long = format!("{}/x.tex", "d".repeat(200));
        builder
            .append_data(&mut header, &long, &b"abc"[..])
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        let mut out = Vec::new();
        Frames::new(bytes.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, bytes);
    }
}
