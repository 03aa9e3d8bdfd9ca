//! Quoting for the generated `sh` drivers. Every value that reaches a
//! driver from an upload (the main file's name, figure paths) goes through
//! `quote`, so no name can end a string or start an option.

/// Single-quotes `s` for POSIX `sh`; a leading `-` gets a `./` prefix so a
/// file name is never read as an option.
pub fn quote_path(s: &str) -> String {
    if s.starts_with('-') {
        quote(&format!("./{s}"))
    } else {
        quote(s)
    }
}

/// Single-quotes `s` for POSIX `sh`: `'` becomes `'\''`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Whether `sh -n` parses `script` (the driver's generated scripts are
/// checked with it in the unit tests).
#[cfg(test)]
pub fn parses_as_sh(script: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .status()
        .unwrap()
        .success()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `printf %s ARG` through a real `sh` and returns what it saw.
    fn through_sh(arg: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(arg)))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn hostile_strings_arrive_verbatim() {
        for s in [
            "main.tex",
            "a b.tex",
            "it's.tex",
            "$(touch /tmp/pwned).tex",
            "`id`.tex",
            "a\nb.tex",
            "'; rm -rf / #",
            "\\\"quoted\"",
            "",
        ] {
            assert_eq!(through_sh(s), s);
        }
    }

    #[test]
    fn leading_dash_is_not_an_option() {
        assert_eq!(quote_path("-shell-escape.tex"), "'./-shell-escape.tex'");
        assert_eq!(quote_path("main.tex"), "'main.tex'");
    }
}
