//! Captured stdout/stderr of a run: the first `cap` bytes are kept, and
//! when more arrived the text ends with a marker line saying so. (The
//! watch closes a stream once it is over its cap, so what the job wrote
//! after that is never read.)

/// One captured stream.
#[derive(Debug, Default)]
pub struct Capture {
    kept: Vec<u8>,
    cap: usize,
    total: u64,
}

impl Capture {
    pub fn new(cap: u64) -> Capture {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        Capture {
            kept: Vec::with_capacity(cap.min(64 * 1024)),
            cap,
            total: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.cap.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    pub fn truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    /// The kept bytes as lossy UTF-8, with the truncation marker appended
    /// on a line of its own when bytes were dropped.
    pub fn into_text(self) -> (String, bool) {
        let truncated = self.truncated();
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if truncated {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[texjail: output truncated after {} bytes]\n",
                self.kept.len()
            ));
        }
        (text, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_cap() {
        let mut c = Capture::new(10);
        c.push(b"hello");
        c.push(b"12345");
        assert_eq!(c.into_text(), ("hello12345".to_string(), false));
    }

    #[test]
    fn cuts_at_the_cap_and_says_so() {
        let mut c = Capture::new(4);
        c.push(b"abcdef");
        c.push(b"gh");
        let (text, truncated) = c.into_text();
        assert!(truncated);
        assert_eq!(text, "abcd\n[texjail: output truncated after 4 bytes]\n");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut c = Capture::new(100);
        c.push(&[0x66, 0xff, 0x6f]);
        assert_eq!(c.into_text().0, "f\u{fffd}o");
    }
}
