//! Program runs in a cluster. An API node has no jail, so it hands each
//! run to a worker and waits for the answer, which is what the worker's
//! API would have answered (status, `Retry-After`, body). The request's
//! body waits in the shared store (`runs/<id>`) because it can be larger
//! than a NATS message; the call names it, and the worker deletes it once
//! read. The files a run wrote are shared like a result, so the API node
//! serves them from `/r/` as it serves a page.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::Cluster;
use crate::pipeline::job::new_job_id;
use crate::pipeline::nats::RunCallError;

/// What an API node asks a worker for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAsk {
    /// `POST /api/v1/run`: the request body waits in the store.
    Run,
    /// `GET /api/v1/run/environment`.
    Environment,
}

#[derive(Debug, Serialize, Deserialize)]
struct RunCall {
    /// Names the request body in the store.
    id: String,
    ask: RunAsk,
}

/// A call as a worker's answerer gets it.
#[derive(Debug)]
pub enum RunCallBody {
    Run(Vec<u8>),
    Environment,
    /// The body could not be read from the store: why.
    Unreadable(String),
}

/// A worker's answer, as its API would have given it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunAnswer {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: serde_json::Value,
}

/// Why an API node has no answer to relay.
#[derive(Debug, thiserror::Error)]
pub enum RunElsewhereError {
    #[error("no worker of the cluster takes program runs now; retry when one is up")]
    NoWorker,
    #[error("the worker running the program did not answer within {0} s")]
    NoAnswer(u64),
    #[error("{0}")]
    Queue(String),
    #[error("{0}")]
    Storage(String),
}

/// What a worker does with a call: its API's run routes.
pub type Answerer =
    Arc<dyn Fn(RunCallBody) -> BoxFuture<'static, RunAnswer> + Send + Sync + 'static>;

impl Cluster {
    /// On an API node: has a worker answer `ask` (with `body`, the
    /// request, for a run), waiting up to `wait`.
    pub async fn run_elsewhere(
        &self,
        ask: RunAsk,
        body: Vec<u8>,
        wait: Duration,
    ) -> Result<RunAnswer, RunElsewhereError> {
        if !self.connected() {
            return Err(RunElsewhereError::Queue(
                "the job queue (NATS) is unreachable".into(),
            ));
        }
        let id = new_job_id();
        if ask == RunAsk::Run {
            self.s3
                .put_run_request(&id, body)
                .await
                .map_err(|e| RunElsewhereError::Storage(e.to_string()))?;
        }
        let call = serde_json::to_vec(&RunCall {
            id: id.clone(),
            ask,
        })
        .expect("a run call serializes");
        let answered = self.nats.request_run(call, wait).await;
        if ask == RunAsk::Run {
            // A worker that took the call deleted it; this covers one that
            // died first, and the call nobody took.
            if let Err(e) = self.s3.delete_run_request(&id).await {
                tracing::warn!(%id, "cannot delete a run request: {e}");
            }
        }
        match answered {
            Ok(answer) => serde_json::from_slice(&answer).map_err(|e| {
                RunElsewhereError::Queue(format!("a worker's answer cannot be read: {e}"))
            }),
            Err(RunCallError::NoWorker) => Err(RunElsewhereError::NoWorker),
            Err(RunCallError::NoAnswer) => Err(RunElsewhereError::NoAnswer(wait.as_secs())),
            Err(RunCallError::Nats(e)) => Err(RunElsewhereError::Queue(e)),
        }
    }

    /// On a worker: answers run calls with `answer`, each in a task of
    /// its own, for as long as the node runs.
    pub async fn serve_runs(self: Arc<Self>, answer: Answerer) {
        let calls = match self.nats.run_calls().await {
            Ok(calls) => calls,
            Err(e) => {
                tracing::error!("this worker cannot take program runs: {e}");
                return;
            }
        };
        let mut calls = std::pin::pin!(calls);
        while let Some((payload, reply)) = calls.next().await {
            let Some(reply) = reply else {
                continue;
            };
            let call: RunCall = match serde_json::from_slice(&payload) {
                Ok(call) => call,
                Err(e) => {
                    tracing::warn!("a run call that is not one: {e}");
                    continue;
                }
            };
            let cluster = Arc::clone(&self);
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let body = cluster.call_body(&call).await;
                let answered = answer(body).await;
                let bytes = serde_json::to_vec(&answered).expect("an answer serializes");
                if let Err(e) = cluster.nats.answer(reply, bytes).await {
                    tracing::warn!(id = %call.id, "cannot answer a run call: {e}");
                }
            });
        }
    }

    /// The call's request, taken out of the store.
    async fn call_body(&self, call: &RunCall) -> RunCallBody {
        if call.ask == RunAsk::Environment {
            return RunCallBody::Environment;
        }
        let read = self.s3.get_run_request(&call.id).await;
        if let Err(e) = self.s3.delete_run_request(&call.id).await {
            tracing::warn!(id = %call.id, "cannot delete a run request: {e}");
        }
        match read {
            Ok(Some(body)) => RunCallBody::Run(body),
            Ok(None) => {
                RunCallBody::Unreadable("the run request is gone from the shared store".into())
            }
            Err(e) => RunCallBody::Unreadable(e.to_string()),
        }
    }
}
