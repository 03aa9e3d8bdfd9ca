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
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
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
/// Longest input name, in bytes.
const MAX_NAME_BYTES: usize = 255;
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
/// Most arguments, and the longest one (Linux takes 128 KiB per argument).
const MAX_ARGS: usize = 256;
const MAX_ARG_BYTES: usize = 64 << 10;

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
                .any(|a| a.len() > MAX_ARG_BYTES || a.contains('\0'))
        {
            return Err(RunError::BadRequest(format!(
                "args: at most {MAX_ARGS}, each at most {MAX_ARG_BYTES} bytes without NUL"
            )));
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
    if name.len() > MAX_NAME_BYTES {
        return Err(bad(&format!("longer than {MAX_NAME_BYTES} bytes")));
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
