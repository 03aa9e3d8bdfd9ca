//! One job as the server tracks it: its id, state, the ordered history of
//! its events (so a late subscriber replays what it missed), a broadcast of
//! new events, and its cancel flag.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use super::store::{unix_secs, JobRecord, JobStore, StoredOutcome};
use super::worker::WorkRequest;
use crate::job::{Failure, JobResult, Preview, Stage};

/// Job ids are 128 random bits in hex: unguessable, so knowing an id is the
/// capability to watch that job.
pub fn new_job_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom(&mut bytes);
    hex::encode(bytes)
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("/dev/urandom is readable");
}

/// Whether `s` looks like a job id (32 lowercase hex digits).
pub fn is_job_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What happened to a job, in order. Sent as server-sent events named by
/// [`Event::name`] with [`Event::data`] as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Waiting for a slot; `position` 1 is next.
    Queued {
        position: usize,
    },
    /// A slot took the job.
    Started {
        slot: u32,
    },
    Stage(Stage),
    Done(Arc<JobResult>),
    Failed(Failure),
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Queued { .. } => "queued",
            Event::Started { .. } => "started",
            Event::Stage(stage) => stage.name(),
            Event::Done(_) => "done",
            Event::Failed(_) => "failed",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, Event::Done(_) | Event::Failed(_))
    }
}

/// The coarse state reported by `GET /jobs/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Running,
    Done,
    Failed,
}

/// Everything the job's mutex guards.
struct Progress {
    state: State,
    history: Vec<Event>,
    /// The upload's directory, when the job has no store; dropped
    /// (deleted) when the job ends. A store keeps its jobs' uploads.
    upload: Option<tempfile::TempDir>,
    stage: Option<Stage>,
    /// The first page, once one is announced.
    preview: Option<Preview>,
    finished_at: Option<Instant>,
}

pub struct Job {
    pub id: String,
    pub created: SystemTime,
    pub request: WorkRequest,
    cancel: AtomicBool,
    progress: Mutex<Progress>,
    events: broadcast::Sender<Event>,
    finished: watch::Sender<bool>,
    /// Where the job is kept, written at each change of state.
    store: Option<Arc<dyn JobStore>>,
    /// How many times a slot took the job, this run of the service and
    /// the ones before.
    runs: AtomicU32,
    /// Whether a client was told the job's id and left to come back.
    announced: AtomicBool,
}

/// A point-in-time view of a job.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub stage: Option<Stage>,
    pub preview: Option<Preview>,
    pub last: Option<Event>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("state", &self.snapshot().state)
            .finish()
    }
}

impl Job {
    pub fn new(request: WorkRequest, upload: Option<tempfile::TempDir>) -> Job {
        Job::with_id(new_job_id(), request, upload)
    }

    /// A job kept in memory under an id given elsewhere (a cluster's).
    pub fn with_id(id: String, request: WorkRequest, upload: Option<tempfile::TempDir>) -> Job {
        Job::build(id, SystemTime::now(), request, upload, None, 0)
    }

    /// A job kept in `store`, which holds its upload (at `request.archive`).
    pub fn stored(id: String, request: WorkRequest, store: Arc<dyn JobStore>) -> Job {
        Job::build(id, SystemTime::now(), request, None, Some(store), 0)
    }

    /// A job read back from its record: unfinished (to be queued again,
    /// its earlier starts counted) or finished (its outcome as its only
    /// event, finished as long ago as the record says).
    pub fn restored(record: &JobRecord, store: Arc<dyn JobStore>) -> Job {
        let created = UNIX_EPOCH + Duration::from_secs(record.created);
        let outcome = record.outcome.as_ref().map(|o| o.restore(store.as_ref()));
        let job = Job::build(
            record.id.clone(),
            created,
            record.request.clone(),
            None,
            Some(store),
            record.runs,
        );
        job.announced.store(record.announced, Ordering::SeqCst);
        if let (Some(outcome), Some(finished)) = (outcome, record.finished) {
            let ago = unix_secs(SystemTime::now()).saturating_sub(finished);
            let mut p = job.lock();
            p.state = match outcome {
                Ok(_) => State::Done,
                Err(_) => State::Failed,
            };
            p.history.push(match outcome {
                Ok(out) => Event::Done(Arc::new(out)),
                Err(err) => Event::Failed(err),
            });
            p.finished_at = Some(
                Instant::now()
                    .checked_sub(Duration::from_secs(ago))
                    .unwrap_or_else(Instant::now),
            );
            drop(p);
            job.finished.send_replace(true);
        }
        job
    }

    fn build(
        id: String,
        created: SystemTime,
        request: WorkRequest,
        upload: Option<tempfile::TempDir>,
        store: Option<Arc<dyn JobStore>>,
        runs: u32,
    ) -> Job {
        Job {
            id,
            created,
            request,
            cancel: AtomicBool::new(false),
            progress: Mutex::new(Progress {
                state: State::Queued,
                history: Vec::new(),
                upload,
                stage: None,
                preview: None,
                finished_at: None,
            }),
            events: broadcast::channel(64).0,
            finished: watch::channel(false).0,
            store,
            runs: AtomicU32::new(runs),
            announced: AtomicBool::new(false),
        }
    }

    /// How many times a slot took the job.
    pub fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    /// Writes the job's record as it stands (nothing without a store).
    pub fn persist(&self) -> std::io::Result<()> {
        let p = self.lock();
        self.save(&p)
    }

    /// Makes the job's record survive a crash of the machine (see
    /// [`JobStore::sync`]); nothing without a store.
    /// The job is announced from now on: a restart runs it again.
    pub fn make_durable(&self) -> std::io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let p = self.lock();
        if !self.announced.swap(true, Ordering::SeqCst) {
            self.save(&p)?;
        }
        drop(p);
        store.sync(&self.id)
    }

    /// Whether a client was told the job's id and left (see
    /// [`Job::make_durable`]); a job read back from a record was.
    pub fn announced(&self) -> bool {
        self.announced.load(Ordering::SeqCst)
    }

    /// Forgets the job's record and upload (a job past its retention).
    pub fn forget(&self) {
        if let Some(store) = &self.store {
            store.remove(&self.id);
        }
    }

    fn save(&self, p: &Progress) -> std::io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let outcome = p.history.last().and_then(|event| match event {
            Event::Done(out) => Some(StoredOutcome::of_result(out)),
            Event::Failed(err) => Some(StoredOutcome::of_failure(err)),
            _ => None,
        });
        store.save(&JobRecord {
            id: self.id.clone(),
            created: unix_secs(self.created),
            request: self.request.clone(),
            state: p.state,
            runs: self.runs(),
            announced: self.announced(),
            finished: outcome.as_ref().map(|_| unix_secs(SystemTime::now())),
            outcome,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records and broadcasts an event. Final events end the job: the state
    /// becomes done/failed, the upload is deleted and waiters wake up.
    /// Nothing is recorded after a final event.
    pub fn publish(&self, event: Event) {
        let is_final = event.is_final();
        let upload = {
            let mut p = self.lock();
            if p.finished_at.is_some() {
                return;
            }
            match &event {
                Event::Started { .. } => p.state = State::Running,
                Event::Stage(Stage::Preview(preview)) => p.preview = Some(preview.clone()),
                Event::Stage(stage) => p.stage = Some(stage.clone()),
                Event::Done(_) => p.state = State::Done,
                Event::Failed(_) => p.state = State::Failed,
                Event::Queued { .. } => {}
            }
            let upload = if is_final {
                p.finished_at = Some(Instant::now());
                p.upload.take()
            } else {
                None
            };
            p.history.push(event.clone());
            if matches!(event, Event::Started { .. }) {
                self.runs.fetch_add(1, Ordering::SeqCst);
            }
            // Written under the lock, so records follow the events' order.
            if is_final || matches!(event, Event::Started { .. }) {
                if let Err(e) = self.save(&p) {
                    tracing::error!(job = %self.id, "cannot record the job's {}: {e}", event.name());
                }
                if is_final {
                    if let Some(store) = &self.store {
                        store.release(&self.id);
                    }
                }
            }
            // No receivers is fine: nobody is watching right now.
            let _ = self.events.send(event);
            upload
        };
        if is_final {
            // Delete the upload outside the lock, before waking waiters, so
            // a waiter that sees the end also sees the files gone.
            drop(upload);
            self.finished.send_replace(true);
        }
    }

    /// The events so far and a receiver for the ones after them, with no
    /// gap and no repeat (both are taken under the same lock `publish` holds).
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let p = self.lock();
        (p.history.clone(), self.events.subscribe())
    }

    pub fn snapshot(&self) -> Snapshot {
        let p = self.lock();
        Snapshot {
            state: p.state,
            stage: p.stage.clone(),
            preview: p.preview.clone(),
            last: p.history.last().cloned(),
        }
    }

    /// The final event, once there is one.
    pub fn outcome(&self) -> Option<Event> {
        let p = self.lock();
        p.finished_at?;
        p.history.last().cloned()
    }

    /// Waits up to `limit` for the job to end; returns its final event.
    pub async fn wait(&self, limit: Duration) -> Option<Event> {
        let mut rx = self.finished.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|done| *done)).await;
        self.outcome()
    }

    /// Waits up to `limit` for the job's preview or its end, whichever
    /// comes first; returns that event.
    pub async fn wait_preview(&self, limit: Duration) -> Option<Event> {
        let first =
            |event: &Event| event.is_final() || matches!(event, Event::Stage(Stage::Preview(_)));
        let (history, mut rx) = self.subscribe();
        if let Some(event) = history.into_iter().rev().find(first) {
            return Some(event);
        }
        let follow = async {
            loop {
                match rx.recv().await {
                    Ok(event) if first(&event) => return Some(event),
                    Ok(_) => {}
                    // Fell behind: what it missed is in the job's state.
                    Err(_) => {
                        if let Some(end) = self.outcome() {
                            return Some(end);
                        }
                        if let Some(preview) = self.snapshot().preview {
                            return Some(Event::Stage(Stage::Preview(preview)));
                        }
                        if rx.is_closed() {
                            return None;
                        }
                    }
                }
            }
        };
        tokio::time::timeout(limit, follow).await.ok().flatten()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    pub fn finished_for(&self) -> Option<Duration> {
        self.lock().finished_at.map(|t| t.elapsed())
    }
}
