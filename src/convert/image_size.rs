//! An image's pixel count read from its own header, never by decoding it:
//! a few hundred bytes of PNG can claim (and decompress to) gigapixels,
//! so every raster figure a result keeps is held to
//! `convert.max_image_pixels` before a browser decodes it.

/// Width × height of a PNG, JPEG, GIF or WebP, or `None` when the header
/// cannot be read (the figure is then not kept).
pub fn pixels(ext: &str, bytes: &[u8]) -> Option<u64> {
    let (w, h) = match ext {
        "png" => png(bytes)?,
        "jpg" | "jpeg" => jpeg(bytes)?,
        "gif" => gif(bytes)?,
        "webp" => webp(bytes)?,
        _ => return None,
    };
    Some(w as u64 * h as u64)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(s[0] as u32 | (s[1] as u32) << 8 | (s[2] as u32) << 16)
}

/// IHDR is the first chunk of every PNG.
fn png(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") || b.get(12..16)? != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(b.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(b.get(20..24)?.try_into().ok()?);
    Some((w, h))
}

/// The first start-of-frame segment; markers without a length (RSTn, SOI,
/// TEM) and fill bytes are stepped over.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        if matches!(marker, 0x01 | 0xD0..=0xD8) {
            continue;
        }
        let len = be16(b, i)? as usize;
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            return Some((be16(b, i + 5)?, be16(b, i + 3)?));
        }
        if len < 2 {
            return None;
        }
        i += len;
    }
}

/// The logical screen of the GIF header.
fn gif(b: &[u8]) -> Option<(u32, u32)> {
    if !(b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        return None;
    }
    Some((le16(b, 6)?, le16(b, 8)?))
}

/// The canvas of an extended (VP8X), lossy (VP8) or lossless (VP8L) WebP.
fn webp(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(..4)? != b"RIFF" || b.get(8..12)? != b"WEBP" {
        return None;
    }
    match b.get(12..16)? {
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        b"VP8 " => Some((le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF)),
        b"VP8L" => {
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(30_000u32.to_be_bytes());
        png.extend(20_000u32.to_be_bytes());
        assert_eq!(pixels("png", &png), Some(600_000_000));
        assert_eq!(pixels("png", &png[..20]), None);
        let gif = b"GIF89a\x10\x00\x08\x00";
        assert_eq!(pixels("gif", gif), Some(128));
        // SOI, an APP0 of 16 bytes, fill bytes, SOF0 of 300x200.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpeg.extend([0u8; 14]);
        jpeg.extend([0xFF, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 200, 0x01, 0x2C]);
        assert_eq!(pixels("jpg", &jpeg), Some(300 * 200));
        assert_eq!(pixels("jpg", &jpeg[..12]), None);
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        webp.extend([0u8; 8]);
        webp.extend([0xFF, 0x03, 0x00, 0xFF, 0x01, 0x00]); // 1024 x 512
        assert_eq!(pixels("webp", &webp), Some(1024 * 512));
        assert_eq!(pixels("bmp", b"BM"), None);
    }
}
