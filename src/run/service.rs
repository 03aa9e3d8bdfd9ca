//! Runs as a node offers them: its run slots, the cache a run's files are
//! kept in, and the environment once probed. The API runs programs
//! through it on a node that has a jail, and so does a cluster's worker
//! for the runs an API node sends it.

use std::sync::Arc;

use super::environment::{self, Environment};
use super::slots::{Full, Slots};
use super::{store, RunError, RunRequest, RunResult, Runner};
use crate::cache::Cache;

/// Why a run request got no result.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Full(#[from] Full),
}

/// A finished run: the answer, and the cache key of the result holding
/// the files it kept (none without files).
pub struct Answered {
    pub result: RunResult,
    pub key: Option<String>,
}

pub struct Runs {
    pub runner: Runner,
    pub slots: Arc<Slots>,
    pub cache: Cache,
    environment: tokio::sync::OnceCell<Environment>,
}

impl Runs {
    pub fn new(runner: Runner, cache: Cache) -> Runs {
        let slots = Slots::new(
            runner.settings.effective_slots(),
            runner.settings.queue_capacity,
        );
        Runs {
            runner,
            slots,
            cache,
            environment: tokio::sync::OnceCell::new(),
        }
    }

    /// The largest request body taken: the inputs at the limit, with room
    /// for JSON escapes and base64 (4 bytes per 3), plus the other members.
    pub fn max_body_bytes(&self) -> u64 {
        self.runner
            .settings
            .max_input_bytes
            .saturating_mul(2)
            .saturating_add(1 << 20)
    }

    /// Checks `request`, waits for a run slot (or is refused when the
    /// queue is full), runs the program and keeps the files it wrote,
    /// listed with URLs under `results_base`.
    pub async fn execute(
        self: &Arc<Self>,
        request: RunRequest,
        results_base: String,
    ) -> Result<Answered, Refused> {
        let program = request.validate(&self.runner.settings)?;
        let slot = self.slots.acquire().await?;
        let runs = Arc::clone(self);
        let answered = tokio::task::spawn_blocking(move || -> Result<Answered, RunError> {
            let finished = runs.runner.run(&program, slot.number())?;
            // The slot is free once the jail is gone; keeping files needs none.
            drop(slot);
            let kept = store::keep(&runs.cache, &finished.written, &results_base)?;
            Ok(Answered {
                result: RunResult::new(finished.outcome, kept.files),
                key: kept.key,
            })
        })
        .await
        .map_err(|e| RunError::Internal(format!("run task: {e}")))??;
        Ok(answered)
    }

    /// What the jail's Python offers: probed once (in a run slot), then kept.
    pub async fn environment(self: &Arc<Self>) -> Result<Environment, Refused> {
        let listing = self
            .environment
            .get_or_try_init(|| async {
                let slot = self.slots.acquire().await?;
                let runs = Arc::clone(self);
                tokio::task::spawn_blocking(move || environment::probe(&runs.runner, slot.number()))
                    .await
                    .map_err(|e| RunError::Internal(format!("environment task: {e}")))?
                    .map_err(Refused::from)
            })
            .await?;
        Ok(listing.clone())
    }
}
