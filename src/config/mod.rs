//! The one validated `Config`: built-in defaults, overlaid by an optional
//! TOML file, overlaid by `TEXJAIL_*` environment variables, overlaid by
//! command-line flags (applied by `main`). Nothing else reads settings.
//!
//! Each module owns the section it needs (`jail::Limits`, `unpack::Limits`,
//! ...); this file only composes and loads them, so adding a limit is a
//! one-line change next to the code that enforces it. The config imports
//! only low-level modules: the HTTP service's section lives here
//! ([`service`]), not in the API that reads it.
//!
//! Environment names are derived, not listed: `TEXJAIL_<KEY>` sets a
//! top-level key and `TEXJAIL_<SECTION>_<KEY>` a key of a section, e.g.
//! `TEXJAIL_ROOTFS=/srv/rootfs` or `TEXJAIL_JAIL_TIMEOUT_SECS=60`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{cache, convert, jail, run, shared, toolchain, unpack};

pub mod cluster;
pub mod origin;
pub mod service;

/// Prefix of every environment variable the config reads.
pub const ENV_PREFIX: &str = "TEXJAIL_";
/// Names the TOML file to load when `--config` is not given.
pub const CONFIG_FILE_ENV: &str = "TEXJAIL_CONFIG";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The jail's root filesystem. Default: the cache directory keyed by the
    /// toolchain digest, where `toolchain-rootfs/build.sh` puts it.
    pub rootfs: PathBuf,
    /// Where results, the cache and per-job scratch space live.
    pub data_dir: PathBuf,
    pub jail: jail::Limits,
    pub unpack: unpack::Limits,
    pub service: service::Settings,
    pub cache: cache::Settings,
    pub convert: convert::Settings,
    pub run: run::Settings,
    pub shared: shared::store::Settings,
    pub cluster: cluster::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rootfs: toolchain::default_rootfs_path(),
            data_dir: PathBuf::from("/var/lib/texjail"),
            jail: jail::Limits::default(),
            unpack: unpack::Limits::default(),
            service: service::Settings::default(),
            cache: cache::Settings::default(),
            convert: convert::Settings::default(),
            run: run::Settings::default(),
            shared: shared::store::Settings::default(),
            cluster: cluster::Settings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: String, message: String },
}

impl Config {
    /// Loads defaults, then the TOML file (the explicit path, else
    /// `$TEXJAIL_CONFIG` if set), then `TEXJAIL_*` from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut tree = toml::Value::try_from(Config::default()).expect("defaults serialize");
        let file = file.map(Path::to_path_buf).or_else(|| {
            env.iter()
                .find(|(k, _)| k == CONFIG_FILE_ENV)
                .map(|(_, v)| PathBuf::from(v))
        });
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let overlay: toml::Value =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: path.clone(),
                        message: e.message().to_string(),
                    })?;
            merge(&mut tree, overlay);
            // Type-check now so a bad file is reported by its own name.
            let _: Config =
                tree.clone()
                    .try_into()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: path.clone(),
                        message: e.message().to_string(),
                    })?;
        }
        for (name, value) in &env {
            if name == CONFIG_FILE_ENV {
                continue;
            }
            if let Some(key) = name.strip_prefix(ENV_PREFIX) {
                apply_env(&mut tree, name, key, value)?;
            }
        }
        let config: Config = tree
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                name: "TEXJAIL_*".into(),
                message: e.message().to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads from the process environment.
    pub fn from_process_env(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(file, std::env::vars())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if !self.rootfs.is_absolute() {
            return invalid("rootfs", "must be an absolute path");
        }
        if !self.data_dir.is_absolute() {
            return invalid("data_dir", "must be an absolute path");
        }
        if self.jail.timeout_secs == 0 {
            return invalid("jail.timeout_secs", "must be at least 1");
        }
        if self.unpack.max_entries == 0 || self.unpack.max_total_bytes == 0 {
            return invalid("unpack", "limits must be at least 1");
        }
        if let Err((key, message)) = self.service.validate() {
            return invalid(&key, &message);
        }
        if let Err((key, message)) = self.run.validate() {
            return invalid(&key, &message);
        }
        if let Err((key, message)) = self.shared.validate() {
            return invalid(&key, &message);
        }
        if let Err((key, message)) = self.cluster.validate(self.shared.enabled()) {
            return invalid(&key, &message);
        }
        Ok(())
    }
}

/// Overlays `top` onto `base`, table by table.
fn merge(base: &mut toml::Value, top: toml::Value) {
    match (base, top) {
        (toml::Value::Table(base), toml::Value::Table(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Sets the key named by `TEXJAIL_<KEY>` or `TEXJAIL_<SECTION>_<KEY>`.
/// Unknown names are errors: a typo must not silently leave a default.
fn apply_env(
    tree: &mut toml::Value,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let key = key.to_ascii_lowercase();
    let table = tree.as_table_mut().expect("config is a table");
    let unknown = || ConfigError::Env {
        name: name.into(),
        message: "not a texjail setting".into(),
    };
    let (slot_table, field) = if table.get(&key).is_some_and(|v| !v.is_table()) {
        (table, key)
    } else {
        let (section, field) = key.split_once('_').ok_or_else(unknown)?;
        let section = table
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(unknown)?;
        (section, field.to_string())
    };
    let old = slot_table.get(&field).ok_or_else(unknown)?;
    let parsed = parse_like(old, value).ok_or_else(|| ConfigError::Env {
        name: name.into(),
        message: format!("cannot parse {value:?} as a {}", old.type_str()),
    })?;
    slot_table.insert(field, parsed);
    Ok(())
}

/// Parses an environment string as the same TOML type as the default.
fn parse_like(old: &toml::Value, value: &str) -> Option<toml::Value> {
    Some(match old {
        toml::Value::Integer(_) => toml::Value::Integer(value.trim().parse().ok()?),
        toml::Value::Boolean(_) => toml::Value::Boolean(match value.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return None,
        }),
        toml::Value::Float(_) => toml::Value::Float(value.trim().parse().ok()?),
        toml::Value::Array(_) => toml::Value::Array(
            value
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(value.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_validate() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn env_sets_top_level_and_section_keys() {
        let config = Config::load(
            None,
            env(&[
                ("TEXJAIL_ROOTFS", "/srv/rootfs"),
                ("TEXJAIL_JAIL_TIMEOUT_SECS", "42"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.rootfs, PathBuf::from("/srv/rootfs"));
        assert_eq!(config.jail.timeout_secs, 42);
    }

    #[test]
    fn a_cluster_node_is_configured_from_the_environment() {
        let config = Config::load(
            None,
            env(&[
                ("TEXJAIL_CLUSTER_NATS_URL", "nats://127.0.0.1:4222"),
                ("TEXJAIL_CLUSTER_ROLE", "worker"),
                ("TEXJAIL_CLUSTER_ACK_WAIT_SECS", "3"),
                ("TEXJAIL_SHARED_S3_BUCKET", "results"),
            ]),
        )
        .unwrap();
        assert_eq!(config.cluster.role, cluster::Role::Worker);
        assert_eq!(config.cluster.ack_wait_secs, 3);
        let err = Config::load(None, env(&[("TEXJAIL_CLUSTER_ROLE", "api")])).unwrap_err();
        assert!(err.to_string().contains("cluster.nats_url"), "{err}");
    }

    #[test]
    fn unknown_env_name_is_an_error_naming_it() {
        let err = Config::load(None, env(&[("TEXJAIL_JAIL_TIMEOUT", "1")])).unwrap_err();
        assert!(err.to_string().contains("TEXJAIL_JAIL_TIMEOUT"), "{err}");
    }

    #[test]
    fn bad_env_value_is_an_error_naming_the_type() {
        let err = Config::load(None, env(&[("TEXJAIL_JAIL_TIMEOUT_SECS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("integer"), "{err}");
    }

    #[test]
    fn toml_file_overlays_defaults_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("texjail.toml");
        std::fs::write(&path, "[jail]\ntimeout_secs = 7\nmemory_bytes = 1000000\n").unwrap();
        let config = Config::load(Some(&path), env(&[("TEXJAIL_JAIL_TIMEOUT_SECS", "9")])).unwrap();
        assert_eq!(config.jail.timeout_secs, 9);
        assert_eq!(config.jail.memory_bytes, 1_000_000);
    }

    #[test]
    fn toml_file_with_unknown_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("texjail.toml");
        std::fs::write(&path, "[jail]\ntimeout = 7\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
    }

    #[test]
    fn zero_timeout_is_invalid() {
        let err = Config::load(None, env(&[("TEXJAIL_JAIL_TIMEOUT_SECS", "0")])).unwrap_err();
        assert!(err.to_string().contains("jail.timeout_secs"), "{err}");
    }
}
