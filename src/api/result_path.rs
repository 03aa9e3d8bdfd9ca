//! Parses the path of a `/r/...` request, from the raw (still
//! percent-encoded) URI, into a result key and a file inside the result.
//! Every segment is decoded on its own and then checked, so an encoded
//! slash, dot-dot or backslash is judged after decoding, never before.

/// What a `/r/` path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultPath {
    /// `/r/{key}`: redirect to the page.
    Bare { key: String },
    /// `/r/{key}.zip`: the whole result as a zip.
    Bundle { key: String },
    /// `/r/{key}/...`: one file of the result, relative to its directory.
    File { key: String, file: String },
}

/// Why a path was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the result key must be 16 to 128 lowercase hex digits")]
    BadKey,
    #[error("a path segment has an invalid percent escape or is not UTF-8")]
    BadEscape,
    #[error("a path segment may not be empty, '.', '..' or start with '.'")]
    DotOrEmpty,
    #[error("a path segment may not contain '/', '\\\\', NUL or control characters, even encoded")]
    BadCharacter,
    #[error(
        "only index.html, fragment.html, log.txt, result.json and files under assets/ are served"
    )]
    NotServed,
    #[error("the path is too long")]
    TooLong,
}

/// Top-level files of a result directory that may be served.
const TOP_LEVEL: [&str; 4] = ["index.html", "fragment.html", "log.txt", "result.json"];
const MAX_PATH: usize = 1024;
const MAX_DEPTH: usize = 16;

pub fn is_result_key(key: &str) -> bool {
    (16..=128).contains(&key.len()) && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `raw` is the URI path after `/r/`, exactly as the client sent it.
pub fn parse(raw: &str) -> Result<ResultPath, PathError> {
    if raw.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let Some((key, rest)) = raw.split_once('/') else {
        return match raw.strip_suffix(".zip") {
            Some(key) if is_result_key(key) => Ok(ResultPath::Bundle { key: key.into() }),
            _ if is_result_key(raw) => Ok(ResultPath::Bare { key: raw.into() }),
            _ => Err(PathError::BadKey),
        };
    };
    if !is_result_key(key) {
        return Err(PathError::BadKey);
    }
    if rest.is_empty() {
        return Ok(ResultPath::File {
            key: key.into(),
            file: "index.html".into(),
        });
    }
    let segments: Vec<String> = rest
        .split('/')
        .map(decode_segment)
        .collect::<Result<_, _>>()?;
    if segments.len() > MAX_DEPTH {
        return Err(PathError::TooLong);
    }
    let served = match segments.as_slice() {
        [only] => TOP_LEVEL.contains(&only.as_str()),
        [first, ..] => first == "assets",
        [] => false,
    };
    if !served {
        return Err(PathError::NotServed);
    }
    Ok(ResultPath::File {
        key: key.into(),
        file: segments.join("/"),
    })
}

fn decode_segment(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).map_err(|_| PathError::BadEscape)?;
    if text.is_empty() || text.starts_with('.') {
        return Err(PathError::DotOrEmpty);
    }
    if text
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(PathError::BadCharacter);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn file(rest: &str) -> Result<ResultPath, PathError> {
        parse(&format!("{KEY}/{rest}"))
    }

    #[test]
    fn accepts_the_documented_shapes() {
        assert_eq!(parse(KEY), Ok(ResultPath::Bare { key: KEY.into() }));
        assert_eq!(
            parse(&format!("{KEY}.zip")),
            Ok(ResultPath::Bundle { key: KEY.into() })
        );
        for (rest, want) in [
            ("", "index.html"),
            ("fragment.html", "fragment.html"),
            ("log.txt", "log.txt"),
            ("assets/fig%201.png", "assets/fig 1.png"),
            ("assets/sub/x.svg", "assets/sub/x.svg"),
        ] {
            assert_eq!(
                file(rest),
                Ok(ResultPath::File {
                    key: KEY.into(),
                    file: want.into()
                }),
                "{rest}"
            );
        }
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for rest in [
            "..",
            "../x",
            "assets/../log.txt",
            "assets/..",
            "%2e%2e/x",
            "%2E%2E",
            "assets/%2e%2e/%2e%2e/etc/passwd",
            ".%2e",
            "assets/.hidden",
            ".size",
            "./index.html",
            "assets//x",
            "assets/",
        ] {
            assert_eq!(file(rest), Err(PathError::DotOrEmpty), "{rest}");
        }
        for rest in [
            "assets/a%2fb",
            "assets%2f..%2f..%2fetc",
            "assets/a%5cb",
            "assets/a\\b",
            "assets/a%00b",
            "assets/a%0ab",
        ] {
            assert_eq!(file(rest), Err(PathError::BadCharacter), "{rest}");
        }
        for rest in ["assets/%zz", "assets/%2", "assets/%ff"] {
            assert_eq!(file(rest), Err(PathError::BadEscape), "{rest}");
        }
        for rest in ["etc/passwd", "result.json.bak", "x.html", "index.html/x"] {
            assert_eq!(file(rest), Err(PathError::NotServed), "{rest}");
        }
    }

    #[test]
    fn refuses_keys_that_are_not_lowercase_hex() {
        for raw in [
            "..",
            "%2e%2e",
            "/etc/passwd",
            "0123456789ABCDEF0123456789ABCDEF/",
            "xyz/",
            "0123/",
            "..%2f..%2fetc",
            "0123456789abcdef0123456789abcdeg.zip",
            "",
            "\\etc",
        ] {
            assert_eq!(parse(raw), Err(PathError::BadKey), "{raw}");
        }
    }

    #[test]
    fn refuses_very_long_and_deep_paths() {
        assert_eq!(file(&"a/".repeat(600)), Err(PathError::TooLong));
        assert_eq!(
            file("assets/".repeat(20).trim_end_matches('/')),
            Err(PathError::TooLong)
        );
    }
}
