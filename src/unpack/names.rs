//! Entry names: the rules a path inside an upload must follow, and the set
//! of names already taken, compared the way a case-insensitive,
//! normalising filesystem would compare them.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use super::{Limits, UnpackError};

/// Longest single path component most filesystems store (`NAME_MAX`).
const MAX_COMPONENT_BYTES: usize = 255;

/// A checked entry name: `/`-separated, relative, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryName {
    pub path: String,
    /// The raw name ended in `/` (zip and tar mark folders that way).
    pub trailing_slash: bool,
}

/// How a raw name is shown in messages: lossy UTF-8, quoted by `{:?}`.
pub(crate) fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Checks one raw entry name against every naming rule.
pub(crate) fn check(raw: &[u8], limits: &Limits) -> Result<EntryName, UnpackError> {
    let shown = || display(raw);
    let bad = |reason: &str| UnpackError::BadName {
        entry: display(raw),
        reason: reason.to_string(),
    };
    let name = std::str::from_utf8(raw).map_err(|_| bad("it is not valid UTF-8"))?;
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden_char(c)) {
        return Err(bad(&format!(
            "it contains the control or invisible character U+{:04X}",
            c as u32
        )));
    }
    if name.starts_with('/') || name.starts_with('\\') || has_drive_letter(name) {
        return Err(UnpackError::AbsolutePath { entry: shown() });
    }
    // Judge `..\x` as the traversal it is meant to be on Windows, before
    // rejecting the backslash itself.
    if name.split(['/', '\\']).any(|c| c == "." || c == "..") {
        return Err(UnpackError::PathTraversal { entry: shown() });
    }
    if name.contains('\\') {
        return Err(UnpackError::Backslash { entry: shown() });
    }
    if raw.len() as u64 > limits.max_name_bytes {
        return Err(UnpackError::NameTooLong {
            entry: shown(),
            bytes: raw.len() as u64,
            limit: limits.max_name_bytes,
        });
    }
    let trailing_slash = name.ends_with('/');
    let path = name.strip_suffix('/').unwrap_or(name);
    let mut depth = 0u64;
    for component in path.split('/') {
        depth += 1;
        if component.is_empty() {
            return Err(bad("it has an empty folder name (\"//\")"));
        }
        if component.len() > MAX_COMPONENT_BYTES {
            return Err(UnpackError::NameTooLong {
                entry: shown(),
                bytes: component.len() as u64,
                limit: MAX_COMPONENT_BYTES as u64,
            });
        }
    }
    if depth > limits.max_depth {
        return Err(UnpackError::TooDeep {
            entry: shown(),
            depth,
            limit: limits.max_depth,
        });
    }
    Ok(EntryName {
        path: path.to_string(),
        trailing_slash,
    })
}

/// `C:`, `c:foo`: a Windows drive, absolute or drive-relative.
pub fn has_drive_letter(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Control characters (C0, DEL, C1) and the invisible formatting
/// characters that make a name display as something it is not
/// (bidirectional overrides, zero-width characters, byte-order mark).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// The key two names collide under: NFC, then full-ish case folding
/// (upper then lower maps `ß`/`SS`/`ss` and `ſ`/`s` together), then NFC
/// again. `/` is unaffected, so folded paths split like the originals.
fn fold(path: &str) -> String {
    let nfc: String = path.nfc().collect();
    let folded = nfc.to_uppercase().to_lowercase();
    folded.nfc().collect()
}

#[derive(Debug)]
struct Taken {
    name: String,
    folder: bool,
    /// A folder that had its own entry (not only implied by a file in it).
    explicit: bool,
}

/// The names an archive has used so far.
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    taken: HashMap<String, Taken>,
}

impl NameSet {
    /// Claims `path` (and, implicitly, its parent folders). Rejects a name
    /// that collides with an earlier one after folding, a second entry of
    /// the same name, and a file where a folder is or vice versa.
    pub fn claim(&mut self, path: &str, folder: bool) -> Result<(), UnpackError> {
        let folded = fold(path);
        let duplicate = |other: &str| UnpackError::DuplicateName {
            entry: path.to_string(),
            other: other.to_string(),
        };
        // Parents first: `a/b` needs `a` to be a folder.
        for (end, folded_end) in slash_positions(path).zip(slash_positions(&folded)) {
            let parent = &path[..end];
            let key = &folded[..folded_end];
            match self.taken.get(key) {
                Some(t) if !t.folder || t.name != parent => return Err(duplicate(&t.name)),
                Some(_) => {}
                None => {
                    self.taken.insert(
                        key.to_string(),
                        Taken {
                            name: parent.to_string(),
                            folder: true,
                            explicit: false,
                        },
                    );
                }
            }
        }
        match self.taken.get_mut(&folded) {
            Some(t) if folder && t.folder && !t.explicit && t.name == path => {
                t.explicit = true;
                Ok(())
            }
            Some(t) => Err(duplicate(&t.name)),
            None => {
                self.taken.insert(
                    folded,
                    Taken {
                        name: path.to_string(),
                        folder,
                        explicit: true,
                    },
                );
                Ok(())
            }
        }
    }
}

fn slash_positions(s: &str) -> impl Iterator<Item = usize> + '_ {
    s.match_indices('/').map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &[u8]) -> &'static str {
        match check(raw, &Limits::default()) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn plain_names_pass() {
        assert_eq!(code(b"main.tex"), "ok");
        assert_eq!(code(b"paper/figs/a b.png"), "ok");
        assert_eq!(code("r\u{e9}sum\u{e9}.tex".as_bytes()), "ok");
        let n = check(b"dir/", &Limits::default()).unwrap();
        assert_eq!(n.path, "dir");
        assert!(n.trailing_slash);
    }

    #[test]
    fn every_escape_is_rejected() {
        assert_eq!(code(b"../x"), "path_traversal");
        assert_eq!(code(b"a/../../x"), "path_traversal");
        assert_eq!(code(b"a/./x"), "path_traversal");
        assert_eq!(code(b".."), "path_traversal");
        assert_eq!(code(b"..\\x"), "path_traversal");
        assert_eq!(code(b"a\\..\\..\\x"), "path_traversal");
        assert_eq!(code(b"a\\b"), "backslash");
        assert_eq!(code(b"/etc/passwd"), "absolute_path");
        assert_eq!(code(b"\\server\\x"), "absolute_path");
        assert_eq!(code(b"C:\\x"), "absolute_path");
        assert_eq!(code(b"c:x"), "absolute_path");
        assert_eq!(code(b"a\0b"), "bad_name");
        assert_eq!(code(b"a\nb"), "bad_name");
        assert_eq!(code(b"a\x7fb"), "bad_name");
        assert_eq!(code("a\u{85}b".as_bytes()), "bad_name");
        assert_eq!(code("evil\u{202E}xet.sh".as_bytes()), "bad_name");
        assert_eq!(code(b"\xff\xfe.tex"), "bad_name");
        assert_eq!(code(b"a//b"), "bad_name");
        assert_eq!(code(b""), "bad_name");
        assert_eq!(code(&vec![b'a'; 256]), "name_too_long");
        assert_eq!(code(&vec![b'a'; 2000]), "name_too_long");
        assert_eq!(code("a/".repeat(40).as_bytes()), "too_deep");
    }

    #[test]
    fn collisions_after_folding_are_duplicates() {
        let mut set = NameSet::default();
        set.claim("Paper/Main.tex", false).unwrap();
        assert!(set.claim("paper/x.tex", false).is_err(), "folder case");
        assert!(set.claim("Paper/MAIN.TEX", false).is_err(), "file case");
        assert!(set.claim("Paper/Main.tex", false).is_err(), "exact");
        set.claim("Paper/Stra\u{df}e.tex", false).unwrap();
        assert!(set.claim("Paper/STRASSE.tex", false).is_err(), "sharp s");
        set.claim("Paper/caf\u{e9}.tex", false).unwrap();
        assert!(set.claim("Paper/cafe\u{301}.tex", false).is_err(), "NFD");
        assert!(
            set.claim("Paper/Main.tex/x", false).is_err(),
            "file as folder"
        );
        assert!(set.claim("Paper", false).is_err(), "folder as file");
        set.claim("Paper", true).unwrap();
        assert!(set.claim("Paper", true).is_err(), "second folder entry");
    }
}
