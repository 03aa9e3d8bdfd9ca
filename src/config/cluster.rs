//! The `[cluster]` section: whether this node is one of many sharing a
//! NATS JetStream server (the work queue, job records and events) and
//! shared storage (uploads and results), and which part it plays.

use serde::{Deserialize, Serialize};

/// What a node does in a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Accepts uploads and answers for every job, and converts.
    #[default]
    All,
    /// Accepts uploads, answers cache hits and for every job; converts nothing.
    Api,
    /// Converts jobs from the shared queue; serves no API.
    Worker,
}

impl Role {
    pub fn serves_api(self) -> bool {
        self != Role::Worker
    }

    pub fn converts(self) -> bool {
        self != Role::Api
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "all" => Ok(Role::All),
            "api" => Ok(Role::Api),
            "worker" => Ok(Role::Worker),
            _ => Err(format!("'{s}' is not a role: api, worker or all")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The NATS server (with JetStream) the nodes share, e.g.
    /// `nats://10.0.0.5:4222`; empty runs one node on its own (embedded).
    pub nats_url: String,
    pub role: Role,
    /// How long a worker may stay silent before its job is given to
    /// another: a running job is acknowledged as in progress three times
    /// in this interval, and its lease on the result's key lasts as long.
    pub ack_wait_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            nats_url: String::new(),
            role: Role::All,
            ack_wait_secs: 30,
        }
    }
}

impl Settings {
    pub fn enabled(&self) -> bool {
        !self.nats_url.is_empty()
    }

    /// The NATS URL as logs and errors show it: a password is masked.
    pub fn nats_url_shown(&self) -> String {
        match self.nats_url.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((credentials, host)) => {
                    let user = credentials.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:***@{host}")
                }
                None => self.nats_url.clone(),
            },
            None => self.nats_url.clone(),
        }
    }

    /// The offending key and why; `shared` says whether `[shared]` names
    /// a store (uploads travel between nodes through it).
    pub fn validate(&self, shared: bool) -> Result<(), (String, String)> {
        if !self.enabled() {
            if self.role != Role::All {
                return Err((
                    "cluster.role".into(),
                    format!(
                        "role '{}' needs a NATS server: set cluster.nats_url (--nats-url)",
                        self.role.name()
                    ),
                ));
            }
            return Ok(());
        }
        if !shared {
            return Err((
                "shared.url".into(),
                "a cluster (cluster.nats_url) keeps uploads and results in shared storage: set shared.url or shared.s3_bucket".into(),
            ));
        }
        if !(3..=3600).contains(&self.ack_wait_secs) {
            return Err((
                "cluster.ack_wait_secs".into(),
                "must be between 3 and 3600".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_on_its_own_plays_every_part() {
        assert_eq!(Settings::default().validate(false), Ok(()));
        for role in [Role::Api, Role::Worker] {
            let settings = Settings {
                role,
                ..Settings::default()
            };
            let (key, message) = settings.validate(true).unwrap_err();
            assert_eq!(key, "cluster.role");
            assert!(message.contains("cluster.nats_url"), "{message}");
        }
    }

    #[test]
    fn a_cluster_needs_shared_storage_and_a_sane_ack_wait() {
        let settings = Settings {
            nats_url: "nats://127.0.0.1:4222".into(),
            ..Settings::default()
        };
        assert_eq!(settings.validate(false).unwrap_err().0, "shared.url");
        assert_eq!(settings.validate(true), Ok(()));
        for bad in [0, 2, 3601] {
            let settings = Settings {
                ack_wait_secs: bad,
                ..settings.clone()
            };
            assert_eq!(
                settings.validate(true).unwrap_err().0,
                "cluster.ack_wait_secs"
            );
        }
    }

    #[test]
    fn a_password_in_the_nats_url_is_never_shown() {
        let with = |url: &str| Settings {
            nats_url: url.into(),
            ..Settings::default()
        };
        assert_eq!(
            with("nats://texjail:s3cret@10.0.0.5:4222").nats_url_shown(),
            "nats://texjail:***@10.0.0.5:4222"
        );
        assert_eq!(
            with("nats://10.0.0.5:4222").nats_url_shown(),
            "nats://10.0.0.5:4222"
        );
        assert!(!with("tls://a:b@c@host:1").nats_url_shown().contains('b'));
    }

    #[test]
    fn roles_parse_by_name_and_say_what_they_do() {
        for role in [Role::All, Role::Api, Role::Worker] {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
        }
        assert!("leader"
            .parse::<Role>()
            .unwrap_err()
            .contains("api, worker or all"));
        assert!(Role::All.serves_api() && Role::All.converts());
        assert!(Role::Api.serves_api() && !Role::Api.converts());
        assert!(!Role::Worker.serves_api() && Role::Worker.converts());
    }
}
