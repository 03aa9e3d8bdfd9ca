//! What a Python run can use: the interpreter's version and the
//! distributions installed in the rootfs, each with its version, as
//! `GET /api/v1/run/environment` lists them. Told by Python itself, run
//! once in the jail like any program (the rootfs never changes under a
//! running service, so the caller keeps the answer).

use serde::{Deserialize, Serialize};

use super::request::{FileIn, RunRequest};
use super::{RunError, Runner};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub language: String,
    pub version: String,
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// Prints the listing as JSON: every installed distribution with a name,
/// once, by name.
const PROBE: &str = r#"
import json, sys
import importlib.metadata as md
seen = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name and name.lower() not in seen:
        seen[name.lower()] = {"name": name, "version": d.version}
print(json.dumps({
    "language": "python",
    "version": sys.version.split()[0],
    "packages": sorted(seen.values(), key=lambda p: p["name"].lower()),
}))
"#;

/// Runs the probe in run slot `slot`. Blocking.
pub fn probe(runner: &Runner, slot: u32) -> Result<Environment, RunError> {
    let program = RunRequest {
        language: "python".into(),
        files: vec![FileIn {
            name: "environment.py".into(),
            content: PROBE.into(),
            encoding: Default::default(),
        }],
        stdin: String::new(),
        args: Vec::new(),
        timeout_secs: Some(30),
        memory_bytes: None,
    }
    .validate(&runner.settings)?;
    let finished = runner.run(&program, slot)?;
    let outcome = &finished.outcome;
    if !outcome.success() {
        return Err(RunError::Internal(format!(
            "the environment probe failed (exit {:?}, signal {:?}, limit {:?}): {}",
            outcome.exit_code,
            outcome.signal,
            outcome.limit,
            outcome.stderr.trim()
        )));
    }
    serde_json::from_str(outcome.stdout.trim())
        .map_err(|e| RunError::Internal(format!("the environment probe's answer: {e}")))
}
