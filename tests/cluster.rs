//! Cluster mode end to end: `texjail serve` nodes sharing a work queue,
//! job records and events on a real `nats-server` with JetStream, and
//! uploads and results on a real S3-compatible server (`s3s-fs`, or
//! Azurite for Azure Blob Storage), all on loopback ports (installed by
//! `scripts/setup.sh --for-tests`).
//! Nodes are SIGKILLed, servers stopped and started again, and every job a
//! node accepted must still end, answered by any node.

mod failover;
pub mod harness;
mod hostile;
mod outages;
mod roles;
mod runs;
mod shared_results;
