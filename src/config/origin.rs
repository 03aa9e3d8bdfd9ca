//! An HTTP origin (`scheme://host[:port]`), for the optional separate
//! results origin: result URLs are built on it, and requests are routed by
//! whether their `Host` is it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Host with the port if one was given, lowercase.
    pub authority: String,
}

impl Origin {
    /// Parses `http(s)://host[:port]` with at most a trailing `/`.
    pub fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let valid = !authority.is_empty()
            && authority.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        valid.then(|| Origin {
            scheme: scheme.into(),
            authority: authority.to_ascii_lowercase(),
        })
    }

    pub fn as_url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// Whether a request's `Host` header names this origin.
    pub fn matches_host(&self, host: &str) -> bool {
        host.eq_ignore_ascii_case(&self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins_and_rejects_urls_with_paths() {
        let o = Origin::parse("https://Results.Example.org:8443/").unwrap();
        assert_eq!(o.as_url(), "https://results.example.org:8443");
        assert!(o.matches_host("results.example.org:8443"));
        assert!(!o.matches_host("example.org"));
        for bad in [
            "results.example.org",
            "ftp://x",
            "https://x/path",
            "https://",
            "https://a b",
            "https://x?y",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }
}
