//! The job pipeline between the HTTP API and the conversion engine: a
//! registry of jobs by id, a bounded FIFO queue, a fixed set of slots (the
//! slot index selects the jail's uid), a wall-clock limit per job, cancel
//! flags and graceful shutdown. It knows nothing about HTTP, syscalls or
//! converters: it speaks the job's vocabulary (`job::Stage`,
//! `job::JobResult`, `job::Failure`), and the engine behind [`Worker`]
//! does the work on a blocking thread.

pub mod cluster;
pub mod disk;
pub mod engine;
pub mod job;
pub mod nats;
pub mod store;
pub mod worker;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use disk::DiskStore;
pub use job::{Event, Job, Snapshot, State};
pub use store::JobStore;
pub use worker::{WorkRequest, Worker};

use crate::job::{ErrorCode, Failure, JobResult, SlotLender, Slots, SpareSlot, Stage, StatusClass};

use crate::config::cluster::Role;
use crate::metrics::Metrics;
use crate::shared::{LocalResults, ResultStore};

/// Sizes and times the pipeline enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub slots: u32,
    pub queue_capacity: usize,
    pub job_timeout: Duration,
    pub retention: Duration,
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    #[error("all {slots} conversion slots are busy and the queue of {capacity} is full; retry in about {retry_after_secs} s")]
    QueueFull {
        slots: u32,
        capacity: usize,
        retry_after_secs: u64,
    },
    #[error("the service is shutting down")]
    ShuttingDown,
    /// The job could not be recorded, so it was not accepted.
    #[error("cannot record the job: {0}")]
    Store(String),
    /// A cluster's shared storage (uploads, results) does not answer.
    #[error("shared storage is unavailable: {0}")]
    StorageUnavailable(String),
    /// A cluster's job queue (NATS) does not answer.
    #[error("the job queue is unavailable: {0}")]
    QueueUnavailable(String),
}

/// What shutdown did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShutdownReport {
    /// Queued jobs failed as cancelled without running.
    pub dropped_queued: usize,
    /// Queued jobs left in the store for the next start to run (their
    /// ids were given out).
    pub kept_queued: usize,
    /// Running jobs that had to be cancelled after the grace period.
    pub cancelled_running: usize,
    /// Running jobs still not returned after cancelling (should be 0).
    pub stuck: usize,
}

struct Sched {
    queue: VecDeque<Arc<Job>>,
    free_slots: Vec<u32>,
    running: HashMap<String, Arc<Job>>,
    closed: bool,
}

struct Inner {
    /// The engine; none on a cluster's API node, which converts nothing.
    worker: Option<Arc<dyn Worker>>,
    /// The cluster this node is part of; none for a node on its own.
    cluster: Option<Arc<Cluster>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    sched: Mutex<Sched>,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    /// Where jobs are kept across restarts; none keeps them in memory only.
    store: Option<Arc<dyn JobStore>>,
    /// Where finished results are shared with other nodes.
    results: Arc<dyn ResultStore>,
    /// Wakes shutdown when a running job returns.
    slot_freed: tokio::sync::Notify,
    /// Recent job durations, for an honest `Retry-After`.
    recent_secs: Mutex<VecDeque<f64>>,
}

/// Cheap to clone; all clones share one pipeline.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

/// A job may borrow an idle slot for its preview, never one a queued job
/// could take: it is lent only when no job waits, and a job submitted
/// meanwhile waits the few seconds until it is given back.
impl SlotLender for Pipeline {
    fn lend(&self) -> Option<SpareSlot> {
        let mut sched = lock(&self.inner.sched);
        if sched.closed || !sched.queue.is_empty() {
            return None;
        }
        let slot = sched.free_slots.pop()?;
        let this = self.clone();
        Some(SpareSlot::new(slot, move || this.give_back(slot)))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pipeline {
    /// Must be called inside a tokio runtime; jobs run on its blocking pool.
    /// Jobs live in memory only.
    pub fn new(worker: Arc<dyn Worker>, limits: Limits, metrics: Arc<Metrics>) -> Pipeline {
        Pipeline::build(
            Some(worker),
            limits,
            metrics,
            None,
            Arc::new(LocalResults),
            None,
        )
    }

    /// A pipeline whose jobs are kept in `store` and whose results are
    /// published to `results` before a job is announced done: the jobs
    /// `store` holds from an earlier run are taken back first (see
    /// [`Pipeline::recover`]).
    pub fn with_store(
        worker: Arc<dyn Worker>,
        limits: Limits,
        metrics: Arc<Metrics>,
        store: Arc<dyn JobStore>,
        results: Arc<dyn ResultStore>,
    ) -> Pipeline {
        let pipeline = Pipeline::build(Some(worker), limits, metrics, Some(store), results, None);
        pipeline.recover();
        pipeline
    }

    /// A node of `cluster`: jobs are accepted into the cluster's queue (on
    /// an API node) and taken from it into this pipeline's slots (on a
    /// worker, which has an engine: `worker`); results are published to
    /// `results`, the cluster's shared store.
    pub fn clustered(
        worker: Option<Arc<dyn Worker>>,
        limits: Limits,
        metrics: Arc<Metrics>,
        results: Arc<dyn ResultStore>,
        cluster: Arc<Cluster>,
    ) -> Pipeline {
        let converts = worker.is_some() && cluster.role.converts();
        let pipeline = Pipeline::build(
            worker,
            limits,
            metrics,
            None,
            results,
            Some(cluster.clone()),
        );
        if converts {
            tokio::spawn(cluster.clone().serve_queue(pipeline.clone()));
        }
        let metrics = pipeline.inner.metrics.clone();
        tokio::spawn(async move {
            loop {
                if let Some(pending) = cluster.pending().await {
                    metrics.cluster_pending.store(
                        i64::try_from(pending).unwrap_or(i64::MAX),
                        Ordering::Relaxed,
                    );
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        pipeline
    }

    fn build(
        worker: Option<Arc<dyn Worker>>,
        limits: Limits,
        metrics: Arc<Metrics>,
        store: Option<Arc<dyn JobStore>>,
        results: Arc<dyn ResultStore>,
        cluster: Option<Arc<Cluster>>,
    ) -> Pipeline {
        let slots = limits.slots.max(1);
        metrics.slots.store(slots as i64, Ordering::Relaxed);
        Pipeline {
            inner: Arc::new(Inner {
                worker,
                cluster,
                metrics,
                runtime: tokio::runtime::Handle::current(),
                sched: Mutex::new(Sched {
                    queue: VecDeque::new(),
                    // Reversed so slot 0 is taken first.
                    free_slots: (0..slots).rev().collect(),
                    running: HashMap::new(),
                    closed: false,
                }),
                jobs: Mutex::new(HashMap::new()),
                store,
                results,
                slot_freed: tokio::sync::Notify::new(),
                recent_secs: Mutex::new(VecDeque::new()),
                limits: Limits { slots, ..limits },
            }),
        }
    }

    /// Takes back the store's jobs: finished ones answer until their
    /// retention ends (older ones are forgotten); unfinished ones nobody
    /// was told of are forgotten (their requests died with the service,
    /// as a client that goes away cancels its job); queued ones are queued
    /// again in the order they came; running ones (the service died under
    /// them) run again, or fail with the reason once they have been
    /// started [`store::MAX_RUNS`] times or their upload is gone.
    fn recover(&self) {
        let Some(store) = self.inner.store.clone() else {
            return;
        };
        let retention = self.inner.limits.retention;
        let mut sched = lock(&self.inner.sched);
        for record in store.load() {
            let job = Arc::new(Job::restored(&record, store.clone()));
            if record.finished.is_some() {
                if job.finished_for().is_some_and(|age| age >= retention) {
                    job.forget();
                    continue;
                }
                lock(&self.inner.jobs).insert(job.id.clone(), job);
                continue;
            }
            if !record.announced {
                tracing::info!(job = %job.id, "dropping a job whose id nobody was given");
                job.forget();
                continue;
            }
            lock(&self.inner.jobs).insert(job.id.clone(), job.clone());
            let failure = if job.runs() >= store::MAX_RUNS {
                Some(format!(
                    "the service stopped while this job ran, {} times; it is not run again",
                    job.runs()
                ))
            } else if !job.request.archive.is_file() {
                Some("the job's upload was lost while the service was down".to_string())
            } else {
                None
            };
            if let Some(reason) = failure {
                tracing::warn!(job = %job.id, "{reason}");
                job.publish(Event::Failed(Failure::new(ErrorCode::Internal, reason)));
                continue;
            }
            tracing::info!(job = %job.id, runs = job.runs(), "queueing a job again after a restart");
            sched.queue.push_back(job.clone());
            job.publish(Event::Queued {
                position: sched.queue.len(),
            });
        }
        self.dispatch(&mut sched);
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether a job submitted now would be accepted; lets the API refuse
    /// before reading a large upload. `submit` checks again.
    pub fn check_capacity(&self) -> Result<(), SubmitError> {
        if let Some(cluster) = &self.inner.cluster {
            if !cluster.connected() {
                return Err(SubmitError::QueueUnavailable(
                    "the job queue (NATS) is unreachable".into(),
                ));
            }
            // The cluster's queue holds the jobs (its depth as last read,
            // at most 2 s ago, plus what this node queued since); this
            // node's slots are a worker's business.
            let waiting = self.inner.metrics.cluster_pending.load(Ordering::Relaxed);
            let capacity = self.inner.limits.queue_capacity;
            if usize::try_from(waiting).is_ok_and(|waiting| waiting >= capacity) {
                return Err(SubmitError::QueueFull {
                    slots: self.inner.limits.slots,
                    capacity,
                    retry_after_secs: self.retry_after_secs(capacity),
                });
            }
            return Ok(());
        }
        let sched = lock(&self.inner.sched);
        self.capacity_error(&sched).map_or(Ok(()), Err)
    }

    fn capacity_error(&self, sched: &Sched) -> Option<SubmitError> {
        if sched.closed {
            return Some(SubmitError::ShuttingDown);
        }
        let waiting = sched.queue.len();
        let can_start_now = !sched.free_slots.is_empty() && waiting == 0;
        if !can_start_now && waiting >= self.inner.limits.queue_capacity {
            return Some(SubmitError::QueueFull {
                slots: self.inner.limits.slots,
                capacity: self.inner.limits.queue_capacity,
                retry_after_secs: self.retry_after_secs(waiting),
            });
        }
        None
    }

    /// Seconds until a slot is likely free: the queue ahead divided among
    /// the slots, times the recent mean job time; at least 1, at most 600.
    fn retry_after_secs(&self, waiting: usize) -> u64 {
        let recent = lock(&self.inner.recent_secs);
        let mean = if recent.is_empty() {
            5.0
        } else {
            recent.iter().sum::<f64>() / recent.len() as f64
        };
        let rounds = (waiting as f64 + 1.0) / self.inner.limits.slots as f64;
        (mean * rounds).ceil().clamp(1.0, 600.0) as u64
    }

    /// Accepts a job: starts it on a free slot or queues it. `upload` (the
    /// directory holding the archive) is deleted when the job ends.
    pub fn submit(
        &self,
        request: WorkRequest,
        upload: Option<tempfile::TempDir>,
    ) -> Result<Arc<Job>, SubmitError> {
        self.prune();
        let job = Arc::new(match (&self.inner.store, upload) {
            (Some(store), Some(upload)) => {
                let id = job::new_job_id();
                let archive = store
                    .adopt_upload(&id, upload, &request.archive)
                    .map_err(|e| SubmitError::Store(e.to_string()))?;
                let request = WorkRequest { archive, ..request };
                Job::stored(id, request, store.clone())
            }
            (Some(store), None) => Job::stored(job::new_job_id(), request, store.clone()),
            (None, upload) => Job::new(request, upload),
        });
        let mut sched = lock(&self.inner.sched);
        if let Some(err) = self.capacity_error(&sched) {
            job.forget();
            return Err(err);
        }
        if let Err(e) = job.persist() {
            job.forget();
            return Err(SubmitError::Store(e.to_string()));
        }
        lock(&self.inner.jobs).insert(job.id.clone(), job.clone());
        sched.queue.push_back(job.clone());
        job.publish(Event::Queued {
            position: sched.queue.len(),
        });
        self.dispatch(&mut sched);
        Ok(job)
    }

    /// Accepts an upload (its directory deleted when the job ends): into
    /// the cluster's queue on a cluster's node, else as [`Pipeline::submit`].
    pub async fn accept(
        &self,
        request: WorkRequest,
        upload: tempfile::TempDir,
    ) -> Result<Arc<Job>, SubmitError> {
        match &self.inner.cluster {
            Some(cluster) => {
                self.prune();
                let job = cluster.accept(request, upload).await?;
                if job.outcome().is_none() {
                    // Queued: counted until the next read of the queue's
                    // depth, so a burst on this node meets `queue_full`
                    // without waiting for that read.
                    let pending = &self.inner.metrics.cluster_pending;
                    pending.fetch_add(1, Ordering::Relaxed);
                }
                Ok(job)
            }
            None => self.submit(request, Some(upload)),
        }
    }

    /// The job with `id`, wherever in the cluster it runs.
    pub async fn find(&self, id: &str) -> Result<Option<Arc<Job>>, SubmitError> {
        match &self.inner.cluster {
            Some(cluster) => cluster.find(id).await,
            None => Ok(self.job(id)),
        }
    }

    pub fn job(&self, id: &str) -> Option<Arc<Job>> {
        lock(&self.inner.jobs).get(id).cloned()
    }

    /// Runs a cluster's job (its id and upload given) in this node's
    /// slots, queued behind this node's own jobs and never refused: the
    /// worker took it for a free slot.
    pub(crate) fn run_here(
        &self,
        id: String,
        request: WorkRequest,
        upload: tempfile::TempDir,
    ) -> Arc<Job> {
        let job = Arc::new(Job::with_id(id, request, Some(upload)));
        let mut sched = lock(&self.inner.sched);
        sched.queue.push_back(job.clone());
        job.publish(Event::Queued {
            position: sched.queue.len(),
        });
        self.dispatch(&mut sched);
        job
    }

    /// Cancels this node's run of job `id`, if it has one.
    pub(crate) fn cancel_here(&self, id: &str) {
        let sched = lock(&self.inner.sched);
        let here = sched
            .running
            .get(id)
            .or_else(|| sched.queue.iter().find(|j| j.id == id));
        if let Some(job) = here {
            // A queued one fails when a slot takes it.
            job.cancel();
        }
    }

    /// What this node does: `All` for a node on its own.
    pub fn role(&self) -> Role {
        self.inner.cluster.as_ref().map_or(Role::All, |c| c.role)
    }

    /// Why this node cannot take part in its cluster now, if it cannot.
    pub fn cluster_unready(&self) -> Option<&'static str> {
        let cluster = self.inner.cluster.as_ref()?;
        (!cluster.connected()).then_some("queue: the cluster's NATS server is unreachable")
    }

    /// Whether the pipeline is shutting down.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.sched).closed
    }

    /// 1-based place in the queue, or None when not waiting.
    pub fn queue_position(&self, id: &str) -> Option<usize> {
        let sched = lock(&self.inner.sched);
        sched.queue.iter().position(|j| j.id == id).map(|i| i + 1)
    }

    pub fn queue_depth(&self) -> usize {
        lock(&self.inner.sched).queue.len()
    }

    pub fn running(&self) -> usize {
        lock(&self.inner.sched).running.len()
    }

    /// Starts queued jobs while slots are free, then tells the jobs still
    /// waiting their new place. Called with the scheduler locked.
    fn dispatch(&self, sched: &mut Sched) {
        let mut moved = false;
        while !sched.free_slots.is_empty() {
            let Some(job) = sched.queue.pop_front() else {
                break;
            };
            moved = true;
            if job.is_cancelled() {
                job.publish(Event::Failed(Failure::new(
                    ErrorCode::Cancelled,
                    "the job was cancelled before it started",
                )));
                continue;
            }
            let slot = sched.free_slots.pop().expect("checked non-empty");
            sched.running.insert(job.id.clone(), job.clone());
            self.start(job, slot);
        }
        if moved {
            for (i, job) in sched.queue.iter().enumerate() {
                job.publish(Event::Queued { position: i + 1 });
            }
        }
        let metrics = &self.inner.metrics;
        metrics
            .queue_depth
            .store(sched.queue.len() as i64, Ordering::Relaxed);
        metrics
            .running
            .store(sched.running.len() as i64, Ordering::Relaxed);
    }

    /// Runs one job on `slot`: the engine on a blocking thread, a watchdog
    /// that sets the cancel flag at the job's time limit, then the result.
    fn start(&self, job: Arc<Job>, slot: u32) {
        job.publish(Event::Started { slot });
        let this = self.clone();
        self.inner.runtime.spawn(async move {
            let began = Instant::now();
            let worker = this.inner.worker.clone();
            let runner = job.clone();
            let lender = this.clone();
            let mut task = tokio::task::spawn_blocking(move || {
                let Some(worker) = worker else {
                    return Err(Failure::new(
                        ErrorCode::Internal,
                        "this node converts nothing (cluster.role = api)",
                    ));
                };
                let progress = |stage: Stage| runner.publish(Event::Stage(stage));
                let slots = Slots {
                    own: slot,
                    lender: Some(&lender),
                };
                worker.run(&runner.request, slots, &progress, runner.cancel_flag())
            });
            let limit = this.inner.limits.job_timeout;
            // The engine enforces the limit itself (its jails get the job's
            // budget); this watchdog is the backstop, a little later, for an
            // engine stuck outside a jail.
            let backstop = limit + (limit / 4).min(Duration::from_secs(5));
            let (outcome, timed_out) = tokio::select! {
                joined = &mut task => (joined, false),
                _ = tokio::time::sleep(backstop) => {
                    // The engine kills its jail when it sees the flag.
                    job.cancel();
                    (task.await, true)
                }
            };
            let result = match outcome {
                Ok(_) if timed_out => Err(Failure::new(
                    ErrorCode::Timeout,
                    format!("the job passed its time limit of {} s", limit.as_secs()),
                )),
                Ok(result) => result,
                Err(_) => Err(Failure::new(
                    ErrorCode::Internal,
                    "the conversion stopped unexpectedly",
                )),
            };
            if let Some(out) = result.as_ref().ok().filter(|out| !out.cache_hit) {
                // A cache hit was shared when it was stored, so a hit costs
                // no round trip. A result the shared store lacks (it was
                // down) is still served here; other nodes convert it again.
                if let Err(e) = this.inner.results.publish(&out.key, &out.dir).await {
                    tracing::warn!(job = %job.id, key = %out.key, "cannot share the result: {e}");
                }
            }
            this.finish(&job, slot, result, began.elapsed());
        });
    }

    fn finish(
        &self,
        job: &Arc<Job>,
        slot: u32,
        result: Result<JobResult, Failure>,
        took: Duration,
    ) {
        let metrics = &self.inner.metrics;
        match &result {
            Ok(out) => {
                let status = out.summary.status;
                metrics.cache_lookup(out.cache_hit);
                metrics.job_finished(status.name(), out.summary.converter.name(), took);
                metrics.page_quality(out.summary.quality.clean);
                if status == StatusClass::Timeout {
                    metrics.jail_killed(status.name());
                }
            }
            Err(err) => {
                metrics.job_finished(err.code.name(), job.request.converter.name(), took);
                if matches!(err.code, ErrorCode::Timeout | ErrorCode::Cancelled) {
                    metrics.jail_killed(err.code.name());
                }
            }
        }
        {
            let mut recent = lock(&self.inner.recent_secs);
            recent.push_back(took.as_secs_f64());
            if recent.len() > 32 {
                recent.pop_front();
            }
        }
        // Free the slot before announcing the end, so a client that gets
        // its answer and submits again finds the room it left.
        let mut sched = lock(&self.inner.sched);
        sched.running.remove(&job.id);
        sched.free_slots.push(slot);
        self.dispatch(&mut sched);
        drop(sched);
        job.publish(match result {
            Ok(out) => Event::Done(Arc::new(out)),
            Err(err) => Event::Failed(err),
        });
        self.inner.slot_freed.notify_waiters();
    }

    /// Gives a lent slot back and starts a job on it if one waits.
    fn give_back(&self, slot: u32) {
        let mut sched = lock(&self.inner.sched);
        sched.free_slots.push(slot);
        self.dispatch(&mut sched);
        drop(sched);
        self.inner.slot_freed.notify_waiters();
    }

    /// Cancels a job: a queued one fails at once, a running one is killed
    /// by its engine.
    pub fn cancel(&self, id: &str) {
        if let Some(cluster) = &self.inner.cluster {
            cluster.cancel(id);
            return;
        }
        let mut sched = lock(&self.inner.sched);
        let Some(job) = self.job(id) else { return };
        job.cancel();
        if let Some(i) = sched.queue.iter().position(|j| j.id == id) {
            sched.queue.remove(i);
            job.publish(Event::Failed(Failure::new(
                ErrorCode::Cancelled,
                "the job was cancelled before it started",
            )));
            for (i, job) in sched.queue.iter().enumerate().skip(i) {
                job.publish(Event::Queued { position: i + 1 });
            }
            self.inner
                .metrics
                .queue_depth
                .store(sched.queue.len() as i64, Ordering::Relaxed);
        }
    }

    /// Forgets finished jobs older than the retention time.
    fn prune(&self) {
        let retention = self.inner.limits.retention;
        if let Some(cluster) = &self.inner.cluster {
            cluster.prune(retention);
        }
        lock(&self.inner.jobs).retain(|_, job| {
            let keep = job.finished_for().map_or(true, |age| age < retention);
            if !keep {
                job.forget();
            }
            keep
        });
    }

    /// Stops accepting jobs, fails the queued ones (with a store, keeps
    /// those whose ids were given out for the next start), lets running jobs finish
    /// for up to `grace`, then cancels them (their engines kill the jails)
    /// and waits up to `kill_wait` for them to return.
    pub async fn shutdown(&self, grace: Duration, kill_wait: Duration) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        {
            let mut sched = lock(&self.inner.sched);
            sched.closed = true;
            for job in sched.queue.drain(..) {
                if self.inner.store.is_some() && job.announced() {
                    // Its record says queued: the next start queues it.
                    report.kept_queued += 1;
                    continue;
                }
                job.cancel();
                job.publish(Event::Failed(Failure::new(
                    ErrorCode::Cancelled,
                    "the service shut down before the job started",
                )));
                report.dropped_queued += 1;
            }
            self.inner.metrics.queue_depth.store(0, Ordering::Relaxed);
        }
        if !self.wait_idle(grace).await {
            report.cancelled_running = self.cancel_running();
            if !self.wait_idle(kill_wait).await {
                report.stuck = self.running();
            }
        }
        report
    }

    /// Sets the cancel flag of every running job; returns how many.
    fn cancel_running(&self) -> usize {
        let sched = lock(&self.inner.sched);
        for job in sched.running.values() {
            job.cancel();
        }
        sched.running.len()
    }

    /// Waits until no job holds a slot; false if `limit` passed first.
    async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let freed = self.inner.slot_freed.notified();
            if self.running() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return self.running() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests;
