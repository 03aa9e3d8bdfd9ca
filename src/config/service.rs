//! The `[service]` config section (`TEXJAIL_SERVICE_<NAME>`): where the
//! server listens, how many conversions run at once, how long a request
//! waits, and every limit the HTTP side enforces. Each limit has a name, a
//! default and a test in `tests/api.rs`. Read by the API.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the server binds (`--listen`).
    pub listen: String,
    /// Conversions that run at once; 0 means one per CPU.
    pub slots: u32,
    /// Jobs that may wait for a slot; one more is refused with 503.
    pub queue_capacity: u32,
    /// Largest upload accepted, in bytes (the whole request body).
    pub max_upload_bytes: u64,
    /// Longest time an upload may take to arrive; a stalled client gets 408.
    pub upload_timeout_secs: u64,
    /// How long `POST /convert` waits for the result before answering 202
    /// with the job URL (`?wait=` overrides it, capped at this value).
    pub wait_secs: u64,
    /// Wall-clock limit of one job from slot to result; the job's jails are
    /// killed when it passes.
    pub job_timeout_secs: u64,
    /// How long a stopping server lets running jobs finish before killing them.
    pub shutdown_grace_secs: u64,
    /// How long a finished job's status stays queryable by id.
    pub job_retention_secs: u64,
    /// Origin that serves results, e.g. `https://results.example.org`; empty
    /// means the server's own origin (`--results-origin`).
    pub results_origin: String,
    /// File with one API token per line; empty means no tokens
    /// (`--api-token-file`).
    pub api_token_file: PathBuf,
    /// Allow running without tokens on a non-loopback address.
    pub allow_anonymous: bool,
    /// Origins whose pages may call the API from a browser (an editor's
    /// "Upload TeX" button), each as a browser sends it
    /// (`https://editor.example.org`); empty allows none but the server's own.
    pub cors_origins: Vec<String>,
    /// Show a fast first page (pandoc's) while `auto` makes the faithful
    /// one; off, `auto` runs its converters in order and nothing else.
    pub previews: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            slots: 0,
            queue_capacity: 32,
            max_upload_bytes: 64 << 20,
            upload_timeout_secs: 300,
            wait_secs: 120,
            job_timeout_secs: 600,
            shutdown_grace_secs: 30,
            job_retention_secs: 3600,
            results_origin: String::new(),
            api_token_file: PathBuf::new(),
            allow_anonymous: false,
            cors_origins: Vec::new(),
            previews: true,
        }
    }
}

impl Settings {
    /// Slots to run: the configured number, or the CPU count.
    pub fn effective_slots(&self) -> u32 {
        if self.slots > 0 {
            return self.slots;
        }
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    }

    /// Checks values that parse but make no sense; the message names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, message: &str| Err((format!("service.{key}"), message.into()));
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid("listen", "must be an address like 127.0.0.1:8080");
        }
        if self.max_upload_bytes == 0 {
            return invalid("max_upload_bytes", "must be at least 1");
        }
        if self.upload_timeout_secs == 0 {
            return invalid("upload_timeout_secs", "must be at least 1");
        }
        if self.job_timeout_secs == 0 {
            return invalid("job_timeout_secs", "must be at least 1");
        }
        if !self.results_origin.is_empty()
            && super::origin::Origin::parse(&self.results_origin).is_none()
        {
            return invalid(
                "results_origin",
                "must be an origin like https://results.example.org (scheme and host, no path)",
            );
        }
        if let Some(bad) = self.cors_origins.iter().find(|o| {
            super::origin::Origin::parse(o)
                .map(|p| p.as_url())
                .as_deref()
                != Some(o.as_str())
        }) {
            return invalid(
                "cors_origins",
                &format!(
                    "{bad:?} is not an origin as a browser sends it, like \
                     https://editor.example.org (lowercase scheme and host, no path, no '/' at the end)"
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_must_be_origins_as_browsers_send_them() {
        let with = |origins: &[&str]| Settings {
            cors_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..Settings::default()
        };
        assert_eq!(
            with(&["https://editor.example.org", "http://localhost:3000"]).validate(),
            Ok(())
        );
        for bad in [
            "*",
            "null",
            "editor.example.org",
            "https://editor.example.org/",
            "https://Editor.example.org",
            "https://editor.example.org/upload",
            "ftp://editor.example.org",
            "",
        ] {
            let err = with(&["https://editor.example.org", bad])
                .validate()
                .unwrap_err();
            assert_eq!(err.0, "service.cors_origins", "{bad:?}");
            assert!(err.1.contains(&format!("{bad:?}")), "{bad:?}: {}", err.1);
        }
    }
}
