//! The `[cluster]` section: whether this node is one of many sharing a
//! NATS JetStream server (the work queue, job records and events) and
//! S3-compatible storage (uploads and results), and which part it plays.

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

    /// The offending key and why; `shared_bucket` is `[shared] s3_bucket`
    /// (uploads travel between nodes through it).
    pub fn validate(&self, shared_bucket: &str) -> Result<(), (String, String)> {
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
        if shared_bucket.is_empty() {
            return Err((
                "shared.s3_bucket".into(),
                "a cluster (cluster.nats_url) keeps uploads and results in shared storage: set shared.s3_bucket".into(),
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
