//! One node of a cluster: many nodes share a NATS JetStream server (the
//! work queue, job records, events and leases: [`Nats`]) and shared
//! storage (uploads while they wait, results).
//!
//! An API node ([`Cluster::accept`]) unpacks an upload with the job's
//! rules and computes its result's key without running anything, answers
//! a cache hit at once (its own cache, else the shared store), and
//! otherwise stores the upload, records the job and queues it. Every API
//! node answers for every job through a mirror: a local `Job` fed by the
//! job's events as the worker publishes them ([`Cluster::find`]).
//!
//! A worker ([`Cluster::serve_queue`]) takes a job when one of its slots
//! is free, keeps it with in-progress acknowledgements, takes the lease on
//! the result's key (so one content is converted once, cluster-wide), runs
//! it in its own pipeline and publishes every event, then the record, then
//! acknowledges it. A worker that dies stops acknowledging: the queue
//! hands its job to another worker after `ack_wait`, at most
//! [`MAX_RUNS`](super::store::MAX_RUNS) starts.

mod runs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use futures::StreamExt;

use super::job::{new_job_id, Event, Job, State};
use super::nats::{Nats, NatsError, Taken, WorkItem};
use super::store::{unix_secs, JobRecord, StoredOutcome};
use super::worker::WorkRequest;
use super::{lock, Pipeline, SubmitError};
use crate::config::cluster::Role;
use crate::config::Config;
use crate::job::{self, ErrorCode, Failure, Stage};
use crate::shared::store::SharedResults;
use crate::shared::ResultStore;

pub use runs::{Answerer, RunAnswer, RunAsk, RunCallBody, RunElsewhereError};

/// The archive's name in a worker's upload directory.
const ARCHIVE: &str = "project";
/// How long a mirror's subscription may be quiet before the job's record
/// is read, and how many such checks before it is started again.
const FOLLOW_CHECK: Duration = Duration::from_secs(3);
const FOLLOW_RESTART_AFTER: u32 = 10;
/// How long a job's events are read when a node first meets it, and the
/// silence that ends the reading of a job still going on.
const HISTORY_WAIT: Duration = Duration::from_secs(2);
const HISTORY_QUIET: Duration = Duration::from_millis(250);

pub struct Cluster {
    nats: Nats,
    s3: Arc<SharedResults>,
    config: Config,
    results_dir: PathBuf,
    uploads_dir: PathBuf,
    /// Jobs this node answers for, each fed by its events.
    mirrors: Mutex<HashMap<String, Arc<Job>>>,
    /// This node's name on the leases it holds.
    node: String,
    pub role: Role,
}

/// How a worker's turn with a job ended.
enum Turn {
    /// The job is finished, or was never to run: the queue forgets it.
    Handled,
    /// This node stops (or lost its way to the job's parts): the queue
    /// gives the job to another worker.
    Interrupted,
}

impl Cluster {
    /// Connects to the cluster's NATS server ([`Nats::open`]).
    pub async fn open(config: &Config, s3: Arc<SharedResults>) -> Result<Cluster, NatsError> {
        let settings = &config.cluster;
        let nats = Nats::open(config).await?;
        Ok(Cluster {
            nats,
            s3,
            results_dir: config.data_dir.join("results"),
            uploads_dir: config.data_dir.join("uploads"),
            config: config.clone(),
            mirrors: Mutex::new(HashMap::new()),
            node: format!("{}:{}", hostname(), std::process::id()),
            role: settings.role,
        })
    }

    pub fn connected(&self) -> bool {
        self.nats.connected()
    }

    /// Jobs waiting in the shared queue that no worker has taken.
    pub async fn pending(&self) -> Option<u64> {
        self.nats.pending().await.ok()
    }

    /// Accepts an upload on an API node (see the module's comment); the
    /// upload's directory is deleted when this returns.
    pub async fn accept(
        self: &Arc<Self>,
        request: WorkRequest,
        upload: tempfile::TempDir,
    ) -> Result<Arc<Job>, SubmitError> {
        if !self.connected() {
            return Err(queue_down("the job queue (NATS) is unreachable"));
        }
        let id = new_job_id();
        let probe = {
            let (config, archive, options) = (
                self.config.clone(),
                request.archive.clone(),
                request.options(),
            );
            tokio::task::spawn_blocking(move || job::probe(&config, &archive, &options))
                .await
                .map_err(|e| SubmitError::Store(e.to_string()))?
        };
        let local = request.archive.clone();
        let job = Arc::new(Job::with_id(
            id.clone(),
            WorkRequest {
                archive: PathBuf::from(ARCHIVE),
                ..request
            },
            None,
        ));
        let probe = match probe {
            Ok(probe) => probe,
            Err(e) => {
                job.publish(Event::Failed(Failure::from(e)));
                self.keep_finished(&job);
                return Ok(job);
            }
        };
        let mut hit = job::cached_result(&self.results_dir, &probe);
        if hit.is_none() && matches!(self.s3.fetch(&probe.key, &self.results_dir).await, Ok(true)) {
            hit = job::cached_result(&self.results_dir, &probe);
        }
        if let Some(out) = hit {
            job.publish(Event::Stage(Stage::Unpacking));
            job.publish(Event::Stage(Stage::CacheHit));
            job.publish(Event::Done(Arc::new(out)));
            self.keep_finished(&job);
            return Ok(job);
        }
        self.s3.put_upload(&id, &local).await.map_err(|e| {
            SubmitError::StorageUnavailable(format!("cannot store the upload: {e}"))
        })?;
        // The shared store holds it now; a worker reads it from there.
        drop(upload);
        let record = JobRecord {
            id: id.clone(),
            created: unix_secs(job.created),
            request: job.request.clone(),
            state: State::Queued,
            runs: 0,
            announced: true,
            outcome: None,
            finished: None,
        };
        let queued = async {
            self.nats.save(&record).await?;
            self.nats
                .enqueue(&WorkItem {
                    id: id.clone(),
                    key: probe.key.clone(),
                })
                .await
        };
        if let Err(e) = queued.await {
            let _ = self.s3.delete_upload(&id).await;
            return Err(queue_down(&e.to_string()));
        }
        let position = self.nats.pending().await.unwrap_or(1).max(1);
        if let Err(e) = self
            .nats
            .publish_event(
                &id,
                &Event::Queued {
                    position: usize::try_from(position).unwrap_or(usize::MAX),
                },
            )
            .await
        {
            tracing::warn!(job = %id, "cannot announce the queued job: {e}");
        }
        self.follow(job.clone(), 0);
        Ok(job)
    }

    /// A job answered within its request (a cache hit, a refused upload):
    /// its record is written in the background so other nodes answer for
    /// its id too.
    fn keep_finished(self: &Arc<Self>, job: &Arc<Job>) {
        lock(&self.mirrors).insert(job.id.clone(), job.clone());
        let this = self.clone();
        let record = finished_record(job);
        let (history, _) = job.subscribe();
        tokio::spawn(async move {
            let Some(record) = record else { return };
            if let Err(e) = this.nats.save(&record).await {
                tracing::warn!(job = %record.id, "cannot record the job: {e}");
            }
            for event in &history {
                this.publish(&record.id, event).await;
            }
        });
    }

    /// The job with `id`, from this node's mirrors or the cluster's records.
    pub async fn find(self: &Arc<Self>, id: &str) -> Result<Option<Arc<Job>>, SubmitError> {
        if let Some(job) = lock(&self.mirrors).get(id) {
            return Ok(Some(job.clone()));
        }
        let Some(record) = self
            .nats
            .load(id)
            .await
            .map_err(|e| queue_down(&e.to_string()))?
        else {
            return Ok(None);
        };
        let job = Arc::new(Job::with_id(
            record.id.clone(),
            record.request.clone(),
            None,
        ));
        // Its history so far as its events tell it, so the mirror answers
        // as the job stands; a finished job's ends with the record's
        // outcome when its events lack the end (lost while NATS was down).
        let mut history = self.history(id).await;
        let seen = history.len();
        let ended = history.last().is_some_and(Event::is_final);
        if let (false, Some(outcome)) = (ended, &record.outcome) {
            history.push(self.final_event(outcome));
        }
        let finished = history.last().is_some_and(Event::is_final);
        for event in history {
            job.publish(event);
        }
        let mut mirrors = lock(&self.mirrors);
        if let Some(existing) = mirrors.get(id) {
            return Ok(Some(existing.clone()));
        }
        mirrors.insert(record.id, job.clone());
        drop(mirrors);
        if !finished {
            self.follow(job.clone(), seen);
        }
        Ok(Some(job))
    }

    /// Job `id`'s events so far: up to its final one, or until none came
    /// for [`HISTORY_QUIET`] (the job goes on), read for at most
    /// [`HISTORY_WAIT`].
    async fn history(&self, id: &str) -> Vec<Event> {
        let mut history = Vec::new();
        let Ok(events) = self.nats.events(id, self.results_dir.clone()).await else {
            return history;
        };
        let read = async {
            let mut events = std::pin::pin!(events);
            while let Ok(Some(event)) = tokio::time::timeout(HISTORY_QUIET, events.next()).await {
                let last = event.is_final();
                history.push(event);
                if last {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(HISTORY_WAIT, read).await;
        history
    }

    /// Feeds `job` (a mirror) its events until its final one, or until
    /// nobody holds it any more. A subscription can go quiet for good (the
    /// NATS server restarted under it), so silence is checked against
    /// the job's record, and a long one starts the subscription again.
    /// `seen`: how many of its events it has already.
    fn follow(self: &Arc<Self>, job: Arc<Job>, seen: usize) {
        lock(&self.mirrors).insert(job.id.clone(), job.clone());
        let this = self.clone();
        let job: Weak<Job> = Arc::downgrade(&job);
        tokio::spawn(async move {
            // A subscription (started again) replays from the first event:
            // the ones already given are skipped.
            let mut seen = seen;
            while let Some(id) = job.upgrade().map(|j| j.id.clone()) {
                match this.nats.events(&id, this.results_dir.clone()).await {
                    Ok(events) => {
                        let mut events = std::pin::pin!(events.skip(seen));
                        let mut quiet = 0u32;
                        while quiet < FOLLOW_RESTART_AFTER {
                            match tokio::time::timeout(FOLLOW_CHECK, events.next()).await {
                                Ok(Some(event)) => {
                                    let Some(job) = job.upgrade() else { return };
                                    seen += 1;
                                    quiet = 0;
                                    let last = event.is_final();
                                    job.publish(event);
                                    if last {
                                        return;
                                    }
                                }
                                Ok(None) => break,
                                Err(_) => {
                                    quiet += 1;
                                    if this.ended_by_record(&job).await {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(job = %id, "cannot follow the job: {e}");
                        if this.ended_by_record(&job).await {
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// The final event a record's outcome stands for, its result in this
    /// node's cache.
    fn final_event(&self, outcome: &StoredOutcome) -> Event {
        match outcome.restore_in(&self.results_dir) {
            Ok(out) => Event::Done(Arc::new(out)),
            Err(failure) => Event::Failed(failure),
        }
    }

    /// Ends mirror `job` from the cluster's record if it says the job ended.
    async fn ended_by_record(&self, job: &Weak<Job>) -> bool {
        let Some(id) = job.upgrade().map(|j| j.id.clone()) else {
            return true;
        };
        let Ok(Some(record)) = self.nats.load(&id).await else {
            return false;
        };
        let Some(outcome) = record.outcome else {
            return false;
        };
        let Some(job) = job.upgrade() else {
            return true;
        };
        job.publish(self.final_event(&outcome));
        true
    }

    /// Cancels job `id` wherever it is: a queued one fails at once (its
    /// worker will skip it), a running one is killed by its worker.
    pub fn cancel(self: &Arc<Self>, id: &str) {
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Ok(Some(mut record)) = this.nats.load(&id).await {
                if record.state == State::Queued {
                    let failure = Failure::new(
                        ErrorCode::Cancelled,
                        "the job was cancelled before it started",
                    );
                    this.end(&mut record, Err(failure)).await;
                }
            }
            if let Err(e) = this.nats.cancel(&id).await {
                tracing::warn!(job = %id, "cannot ask workers to cancel the job: {e}");
            }
        });
    }

    /// Forgets mirrors of jobs finished more than `retention` ago.
    pub fn prune(&self, retention: Duration) {
        lock(&self.mirrors).retain(|_, job| job.finished_for().map_or(true, |age| age < retention));
    }

    /// Records job `record`'s end (the cluster's record, then its final
    /// event) and deletes its upload.
    async fn end(&self, record: &mut JobRecord, outcome: Result<job::JobResult, Failure>) {
        let event = match &outcome {
            Ok(out) => Event::Done(Arc::new(out.clone())),
            Err(failure) => Event::Failed(failure.clone()),
        };
        record.state = match outcome {
            Ok(_) => State::Done,
            Err(_) => State::Failed,
        };
        record.outcome = Some(match &outcome {
            Ok(out) => StoredOutcome::of_result(out),
            Err(failure) => StoredOutcome::of_failure(failure),
        });
        record.finished = Some(unix_secs(SystemTime::now()));
        self.retry("record the job's end", || self.nats.save(record))
            .await;
        self.retry("publish the job's end", || {
            self.nats.publish_event(&record.id, &event)
        })
        .await;
        if let Err(e) = self.s3.delete_upload(&record.id).await {
            tracing::warn!(job = %record.id, "cannot delete the job's upload: {e}");
        }
    }

    /// Runs `call` until it succeeds, for up to a minute (NATS may be
    /// restarting); logs what it could not do.
    async fn retry<F, Fut>(&self, what: &str, call: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), NatsError>>,
    {
        for attempt in 0..30 {
            match call().await {
                Ok(()) => return,
                Err(e) if attempt == 29 => tracing::error!("cannot {what}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
            }
        }
    }

    /// A worker's loop: takes a job whenever one of `pipeline`'s slots is
    /// free, until the pipeline shuts down.
    pub async fn serve_queue(self: Arc<Self>, pipeline: Pipeline) {
        let permits = Arc::new(tokio::sync::Semaphore::new(
            pipeline.limits().slots.max(1) as usize
        ));
        self.clone().cancel_on_request(pipeline.clone());
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            if pipeline.is_closed() {
                return;
            }
            match self.nats.take(Duration::from_secs(5)).await {
                Ok(Some(taken)) => {
                    let this = self.clone();
                    let pipeline = pipeline.clone();
                    tokio::spawn(async move {
                        this.work_on(&pipeline, taken).await;
                        drop(permit);
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("cannot take work: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Cancels this node's run of any job someone asks to cancel.
    fn cancel_on_request(self: Arc<Self>, pipeline: Pipeline) {
        tokio::spawn(async move {
            loop {
                match self.nats.cancel_requests().await {
                    Ok(requests) => {
                        let mut requests = std::pin::pin!(requests);
                        while let Some(id) = requests.next().await {
                            pipeline.cancel_here(&id);
                        }
                    }
                    Err(e) => tracing::debug!("cannot hear cancel requests: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn work_on(self: &Arc<Self>, pipeline: &Pipeline, taken: Taken) {
        let taken = Arc::new(taken);
        let id = taken.item.id.clone();
        let keep_alive = {
            let taken = taken.clone();
            let every = self.nats.ack_wait / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = taken.progress().await {
                        tracing::debug!("cannot keep the job: {e}");
                    }
                }
            })
        };
        let turn = self.run_turn(pipeline, &taken).await;
        keep_alive.abort();
        match turn {
            Turn::Handled => {
                if let Err(e) = taken.finish().await {
                    tracing::warn!(job = %id, "cannot acknowledge the job: {e}");
                }
            }
            Turn::Interrupted => {
                tracing::info!(job = %id, "leaving the job to another worker");
                let _ = taken.give_up().await;
            }
        }
    }

    async fn run_turn(self: &Arc<Self>, pipeline: &Pipeline, taken: &Taken) -> Turn {
        let item = &taken.item;
        let mut record = match self.nats.load(&item.id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                tracing::warn!(job = %item.id, "dropping a queued job without a record");
                return Turn::Handled;
            }
            Err(e) => {
                tracing::warn!(job = %item.id, "cannot read the job's record: {e}");
                return Turn::Interrupted;
            }
        };
        if record.finished.is_some() {
            // Cancelled while it waited.
            return Turn::Handled;
        }
        if taken.past_its_runs() {
            let reason = format!(
                "the workers that took this job stopped while it ran, {} times; it is not run again",
                record.runs
            );
            tracing::warn!(job = %item.id, "{reason}");
            self.end(&mut record, Err(Failure::new(ErrorCode::Internal, reason)))
                .await;
            return Turn::Handled;
        }
        let Some(upload) = self.fetch_upload(pipeline, &item.id).await else {
            return Turn::Interrupted;
        };
        let Some(upload) = upload else {
            let failure = Failure::new(
                ErrorCode::Internal,
                "the job's upload is gone from shared storage",
            );
            self.end(&mut record, Err(failure)).await;
            return Turn::Handled;
        };
        let Some(lease) = self.lease(pipeline, &item.key).await else {
            return Turn::Interrupted;
        };
        // Another node may have made it while we waited for the lease.
        if let Err(e) = self.s3.fetch(&item.key, &self.results_dir).await {
            tracing::debug!(job = %item.id, "shared store: {e}");
        }
        record.runs += 1;
        record.state = State::Running;
        if let Err(e) = self.nats.save(&record).await {
            tracing::warn!(job = %item.id, "cannot record the job's start: {e}");
        }
        let request = WorkRequest {
            archive: upload.path().join(ARCHIVE),
            // This worker's limit, whatever the node that queued it says.
            timeout: record.request.timeout.min(pipeline.limits().job_timeout),
            ..record.request.clone()
        };
        let job = pipeline.run_here(item.id.clone(), request, upload);
        let outcome = self.publish_events(&job).await;
        lease.release().await;
        match outcome {
            Some(Err(failure)) if failure.code == ErrorCode::Cancelled && pipeline.is_closed() => {
                Turn::Interrupted
            }
            Some(outcome) => {
                self.end(&mut record, outcome).await;
                Turn::Handled
            }
            None => Turn::Interrupted,
        }
    }

    /// The job's upload in a directory of its own; `Some(None)` when the
    /// shared store has none, `None` when this node stops before it could
    /// be read.
    async fn fetch_upload(
        &self,
        pipeline: &Pipeline,
        id: &str,
    ) -> Option<Option<tempfile::TempDir>> {
        loop {
            let dir = tempfile::Builder::new()
                .prefix("job.")
                .tempdir_in(&self.uploads_dir)
                .ok()?;
            match self.s3.get_upload(id, &dir.path().join(ARCHIVE)).await {
                Ok(true) => return Some(Some(dir)),
                Ok(false) => return Some(None),
                Err(e) => tracing::warn!(job = %id, "cannot read the job's upload: {e}"),
            }
            if pipeline.is_closed() {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// The lease on result `key`, once no other node holds it; renewed
    /// until released. None when this node stops first.
    async fn lease(self: &Arc<Self>, pipeline: &Pipeline, key: &str) -> Option<Lease> {
        loop {
            match self.nats.try_lease(key, &self.node).await {
                Ok(Some(revision)) => return Some(Lease::hold(self.clone(), key, revision)),
                Ok(None) => {}
                Err(e) => tracing::debug!("cannot take a lease: {e}"),
            }
            if pipeline.is_closed() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Publishes every event of `job` (run here) as it comes, previews'
    /// pages shared first; returns its outcome.
    async fn publish_events(&self, job: &Arc<Job>) -> Option<Result<job::JobResult, Failure>> {
        let (history, mut rx) = job.subscribe();
        let mut pending: std::collections::VecDeque<Event> = history.into();
        loop {
            let event = match pending.pop_front() {
                Some(event) => event,
                None => match rx.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => job.outcome()?,
                },
            };
            match event {
                Event::Done(out) => return Some(Ok((*out).clone())),
                Event::Failed(failure) => return Some(Err(failure)),
                Event::Stage(Stage::Preview(ref preview)) => {
                    let dir = self.results_dir.join(&preview.key);
                    if let Err(e) = self.s3.publish(&preview.key, &dir).await {
                        tracing::warn!(job = %job.id, "cannot share the preview: {e}");
                    }
                    self.publish(&job.id, &event).await;
                }
                // The cluster has its own queue position.
                Event::Queued { .. } => {}
                event => self.publish(&job.id, &event).await,
            }
        }
    }

    async fn publish(&self, id: &str, event: &Event) {
        if let Err(e) = self.nats.publish_event(id, event).await {
            tracing::warn!(job = %id, "cannot publish the job's {}: {e}", event.name());
        }
    }
}

/// A lease on a result key, renewed in the background until released.
struct Lease {
    cluster: Arc<Cluster>,
    key: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lease {
    fn hold(cluster: Arc<Cluster>, key: &str, revision: u64) -> Lease {
        let renewer = {
            let cluster = cluster.clone();
            let key = key.to_string();
            tokio::spawn(async move {
                let mut revision = revision;
                loop {
                    tokio::time::sleep(cluster.nats.ack_wait / 3).await;
                    match cluster
                        .nats
                        .renew_lease(&key, &cluster.node, revision)
                        .await
                    {
                        Ok(next) => revision = next,
                        Err(e) => tracing::warn!(key = %key, "cannot renew the lease: {e}"),
                    }
                }
            })
        };
        Lease {
            cluster,
            key: key.to_string(),
            renewer,
        }
    }

    async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.cluster.nats.release_lease(&self.key).await {
            tracing::warn!(key = %self.key, "cannot release the lease: {e}");
        }
    }
}

/// A finished job's record, for the cluster's bucket.
fn finished_record(job: &Job) -> Option<JobRecord> {
    let outcome = match job.outcome()? {
        Event::Done(out) => StoredOutcome::of_result(&out),
        Event::Failed(failure) => StoredOutcome::of_failure(&failure),
        _ => return None,
    };
    let state = match outcome {
        StoredOutcome::Done(_) => State::Done,
        StoredOutcome::Failed(_) => State::Failed,
    };
    Some(JobRecord {
        id: job.id.clone(),
        created: unix_secs(job.created),
        request: job.request.clone(),
        state,
        runs: 0,
        announced: true,
        outcome: Some(outcome),
        finished: Some(unix_secs(SystemTime::now())),
    })
}

fn queue_down(why: &str) -> SubmitError {
    SubmitError::QueueUnavailable(why.to_string())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into())
}
