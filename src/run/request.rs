//! A run request as it arrives (`POST /api/v1/run`, `texjail run`) and
//! its validation into a [`Program`]: the language is known, every file
//! name is a plain relative path, every content decodes, and the inputs
//! fit `run.max_input_bytes`. Nothing reaches the jail before this passes.

use std::collections::HashSet;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::settings::{Asked, Settings};
use super::RunError;
use crate::unpack::names::{has_drive_letter, is_forbidden_char};

/// The languages a run may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
}

/// How a file's `content` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Utf8,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    pub name: String,
    pub content: String,
    #[serde(default)]
    pub encoding: Encoding,
}

/// The request body. Unknown members are refused, so a misspelt limit
/// never silently runs with the ceiling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A string, so an unknown language is refused by name rather than by
    /// the JSON parser.
    pub language: String,
    pub files: Vec<FileIn>,
    #[serde(default)]
    pub stdin: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "whole_number")]
    pub timeout_secs: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    pub memory_bytes: Option<u64>,
}

/// Largest number a limit may be asked as: the largest integer JSON
/// numbers carry exactly everywhere (2^53 - 1).
pub const MAX_ASK: u64 = (1 << 53) - 1;

/// A whole number as JSON writes it: `7` or `7.0` (JSON has one number
/// type, and JSON Schema's `integer` takes both). Absent is `None`;
/// `null` is not a number and is refused.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(n) = n.as_u64() {
        return Ok(Some(n));
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= MAX_ASK as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number from 0 to {MAX_ASK}"
        ))),
    }
}

/// A validated request: decoded files (the first is the program), stdin,
/// arguments and what was asked of the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub language: Language,
    pub files: Vec<(String, Vec<u8>)>,
    pub stdin: Vec<u8>,
    pub args: Vec<String>,
    pub asked: Asked,
}

impl Program {
    /// The program file's name (the first file).
    pub fn main_file(&self) -> &str {
        &self.files[0].0
    }
}

/// Names in `/job` the run itself uses; no input may take them.
pub const RESERVED_PREFIX: &str = ".texjail";
/// Folder nesting an input name may have.
const MAX_DEPTH: usize = 8;
/// Longest input name, in characters (at most 252 bytes: within one
/// component's `NAME_MAX`).
const MAX_NAME_CHARS: usize = 63;
/// The least address space a run may ask for.
pub const MIN_MEMORY_BYTES: u64 = 32 << 20;
/// Base64 as RFC 4648 writes it, padded; bits past the last byte are
/// ignored rather than refused (not every encoder clears them).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);
/// Most input files.
pub const MAX_FILES: usize = 256;
/// Most arguments, and the longest one in characters (at most 64 KiB:
/// Linux takes 128 KiB per argument).
const MAX_ARGS: usize = 256;
const MAX_ARG_CHARS: usize = 16 << 10;

impl RunRequest {
    pub fn validate(self, settings: &Settings) -> Result<Program, RunError> {
        let language = match self.language.as_str() {
            "python" => Language::Python,
            other => {
                return Err(RunError::BadRequest(format!(
                    "unknown language {other:?}: the one language is \"python\""
                )))
            }
        };
        if self.files.is_empty() {
            return Err(RunError::BadRequest(
                "no files: the first file is the program".into(),
            ));
        }
        if self.files.len() > MAX_FILES {
            return Err(RunError::BadRequest(format!(
                "{} files: at most {MAX_FILES}",
                self.files.len()
            )));
        }
        if self.args.len() > MAX_ARGS
            || self
                .args
                .iter()
                .any(|a| a.chars().count() > MAX_ARG_CHARS || a.contains('\0'))
        {
            return Err(RunError::BadRequest(format!(
                "args: at most {MAX_ARGS}, each at most {MAX_ARG_CHARS} characters without NUL"
            )));
        }
        for (name, asked) in [
            ("timeout_secs", self.timeout_secs),
            ("memory_bytes", self.memory_bytes),
        ] {
            if asked.is_some_and(|n| n > MAX_ASK) {
                return Err(RunError::BadRequest(format!(
                    "{name} must be at most {MAX_ASK}"
                )));
            }
        }
        if self.timeout_secs == Some(0) {
            return Err(RunError::BadRequest(
                "timeout_secs must be at least 1".into(),
            ));
        }
        if self.memory_bytes.is_some_and(|m| m < MIN_MEMORY_BYTES) {
            return Err(RunError::BadRequest(format!(
                "memory_bytes must be at least {MIN_MEMORY_BYTES}: the interpreter needs that much to start"
            )));
        }
        let mut total = self.stdin.len() as u64;
        let too_large = |total: u64| RunError::TooLarge {
            limit: "run.max_input_bytes",
            max_bytes: settings.max_input_bytes,
            bytes: total,
        };
        if total > settings.max_input_bytes {
            return Err(too_large(total));
        }
        let mut seen = HashSet::new();
        let mut files = Vec::with_capacity(self.files.len());
        for file in self.files {
            check_name(&file.name)?;
            // Two names one folder could not hold apart.
            if !seen.insert(file.name.to_lowercase()) {
                return Err(RunError::BadRequest(format!(
                    "file {:?} is given twice",
                    file.name
                )));
            }
            let bytes = match file.encoding {
                Encoding::Utf8 => file.content.into_bytes(),
                Encoding::Base64 => BASE64.decode(file.content.as_bytes()).map_err(|e| {
                    RunError::BadRequest(format!(
                        "file {:?}: its content is not base64: {e}",
                        file.name
                    ))
                })?,
            };
            total += bytes.len() as u64;
            if total > settings.max_input_bytes {
                return Err(too_large(total));
            }
            files.push((file.name, bytes));
        }
        // A folder of one input may not be a file of another.
        for (name, _) in &files {
            let mut prefix = String::new();
            for component in name.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
                prefix.push_str(component);
                if files.iter().any(|(other, _)| other == &prefix) {
                    return Err(RunError::BadRequest(format!(
                        "file {prefix:?} is also the folder of {name:?}"
                    )));
                }
                prefix.push('/');
            }
        }
        Ok(Program {
            language,
            files,
            stdin: self.stdin.into_bytes(),
            args: self.args,
            asked: Asked {
                timeout_secs: self.timeout_secs,
                memory_bytes: self.memory_bytes,
            },
        })
    }
}

/// A name of `/job`: relative, `/`-separated, no `.`/`..`/empty
/// component, no backslash or control character, not the run's own.
fn check_name(name: &str) -> Result<(), RunError> {
    let bad = |why: &str| RunError::BadRequest(format!("file name {name:?}: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad(&format!("longer than {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(is_forbidden_char) {
        return Err(bad("it contains a control or invisible character"));
    }
    if name.starts_with('/') || has_drive_letter(name) {
        return Err(bad("it is absolute; names are relative to /job"));
    }
    if name.contains('\\') {
        return Err(bad("it contains a backslash"));
    }
    let components: Vec<&str> = name.split('/').collect();
    if components
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(bad("it has an empty, '.' or '..' component"));
    }
    if components.len() > MAX_DEPTH {
        return Err(bad(&format!("nested deeper than {MAX_DEPTH} folders")));
    }
    if components[0].starts_with(RESERVED_PREFIX) {
        return Err(bad(&format!(
            "names starting with {RESERVED_PREFIX} are the run's own"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(names: &[&str]) -> RunRequest {
        RunRequest {
            language: "python".into(),
            files: names
                .iter()
                .map(|n| FileIn {
                    name: n.to_string(),
                    content: "print(1)".into(),
                    encoding: Encoding::Utf8,
                })
                .collect(),
            stdin: String::new(),
            args: Vec::new(),
            timeout_secs: None,
            memory_bytes: None,
        }
    }

    #[test]
    fn hostile_names_are_refused_naming_the_file() {
        for name in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "./main.py",
            "a//b",
            "a\\b",
            "C:x",
            "a\nb",
            "",
            ".texjail-stdin",
            "x/",
        ] {
            let err = request(&["main.py", name])
                .validate(&Settings::default())
                .unwrap_err();
            assert!(matches!(err, RunError::BadRequest(_)), "{name:?}: {err}");
            assert!(err.to_string().contains("file name"), "{name:?}: {err}");
        }
        let ok = request(&["main.py", "data/in.csv", ".hidden"])
            .validate(&Settings::default())
            .unwrap();
        assert_eq!(ok.main_file(), "main.py");
    }

    #[test]
    fn duplicates_files_as_folders_and_unknown_languages_are_refused() {
        for names in [&["a.py", "A.py"][..], &["a", "a/b.py"]] {
            assert!(request(names).validate(&Settings::default()).is_err());
        }
        let mut r = request(&["main.py"]);
        r.language = "ruby".into();
        let err = r.validate(&Settings::default()).unwrap_err();
        assert!(err.to_string().contains("\"ruby\""), "{err}");
        assert!(request(&[]).validate(&Settings::default()).is_err());
    }

    #[test]
    fn limits_below_what_a_run_can_start_with_are_refused() {
        let mut r = request(&["main.py"]);
        r.timeout_secs = Some(0);
        let err = r.validate(&Settings::default()).unwrap_err();
        assert!(err.to_string().contains("timeout_secs"), "{err}");
        let mut r = request(&["main.py"]);
        r.memory_bytes = Some(1 << 20);
        let err = r.validate(&Settings::default()).unwrap_err();
        assert!(err.to_string().contains("memory_bytes"), "{err}");
        let mut r = request(&["main.py"]);
        r.memory_bytes = Some(MIN_MEMORY_BYTES);
        r.timeout_secs = Some(1);
        assert!(r.validate(&Settings::default()).is_ok());
        let mut r = request(&["main.py"]);
        r.memory_bytes = Some(MAX_ASK + 1);
        let err = r.validate(&Settings::default()).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
    }

    #[test]
    fn limits_are_whole_numbers_written_either_way() {
        let parse = |limit: &str| {
            serde_json::from_str::<RunRequest>(&format!(
                r#"{{"language": "python", "files": [], "timeout_secs": {limit}}}"#
            ))
            .map(|r| r.timeout_secs)
        };
        assert_eq!(parse("7").unwrap(), Some(7));
        assert_eq!(parse("7.0").unwrap(), Some(7));
        let absent: RunRequest =
            serde_json::from_str(r#"{"language": "python", "files": []}"#).unwrap();
        assert_eq!(absent.timeout_secs, None);
        for bad in ["7.5", "-1", "1e300", "\"7\"", "null"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inputs_over_the_limit_are_too_large_and_base64_decodes() {
        let settings = Settings {
            max_input_bytes: 10,
            ..Settings::default()
        };
        let mut r = request(&["main.py"]);
        r.stdin = "0123456789".into();
        let err = r.validate(&settings).unwrap_err();
        assert!(
            matches!(
                err,
                RunError::TooLarge {
                    limit: "run.max_input_bytes",
                    ..
                }
            ),
            "{err}"
        );
        let mut r = request(&["data.bin"]);
        r.files[0].encoding = Encoding::Base64;
        r.files[0].content = "AAEC/w==".into();
        assert_eq!(
            r.validate(&Settings::default()).unwrap().files[0].1,
            [0, 1, 2, 255]
        );
        // Trailing bits some encoders leave set are ignored.
        let mut r = request(&["data.bin"]);
        r.files[0].encoding = Encoding::Base64;
        r.files[0].content = "QR==".into();
        assert_eq!(r.validate(&Settings::default()).unwrap().files[0].1, b"A");
        let mut r = request(&["data.bin"]);
        r.files[0].encoding = Encoding::Base64;
        r.files[0].content = "not base64!".into();
        assert!(r.validate(&Settings::default()).is_err());
    }
}
