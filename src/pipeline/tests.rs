//! Queueing, slots, events, limits and shutdown, driven by a fake engine
//! (the real one is exercised end to end in `tests/api.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::*;
use crate::job::{Converter, Summary, Timings};

/// An engine whose jobs block until released (or cancelled), recording how
/// many ran at once and which slots they used.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
    active: AtomicUsize,
    max_active: AtomicUsize,
    slots_seen: Mutex<Vec<u32>>,
    saw_cancel: AtomicUsize,
    /// Ignore the cancel flag for this long (a stubborn engine).
    stubborn: Mutex<Option<Duration>>,
}

impl Gate {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

impl Worker for Gate {
    fn run(
        &self,
        request: &WorkRequest,
        slots: Slots<'_>,
        progress: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<JobResult, Failure> {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
        self.slots_seen.lock().unwrap().push(slots.own);
        progress(Stage::Unpacking);
        progress(Stage::Converting {
            converter: Converter::Pandoc,
            pass: "1".into(),
        });
        let mut open = self.open.lock().unwrap();
        let result = loop {
            if *open {
                break Ok(());
            }
            if cancel.load(Ordering::SeqCst) {
                self.saw_cancel.fetch_add(1, Ordering::SeqCst);
                if let Some(delay) = *self.stubborn.lock().unwrap() {
                    std::thread::sleep(delay);
                }
                break Err(Failure::new(ErrorCode::Cancelled, "cancelled"));
            }
            open = self
                .changed
                .wait_timeout(open, Duration::from_millis(5))
                .unwrap()
                .0;
        };
        drop(open);
        self.active.fetch_sub(1, Ordering::SeqCst);
        result?;
        progress(Stage::Sanitizing);
        Ok(JobResult {
            key: "ab".repeat(32),
            cache_hit: false,
            project_digest: String::new(),
            dir: std::path::PathBuf::new(),
            summary: Summary {
                status: StatusClass::Ok,
                converter: request.converter,
                attempts: Vec::new(),
                diagnostics: Vec::new(),
                missing: Vec::new(),
                title: None,
                assets: Vec::new(),
                math_count: 0,
                image_count: 0,
                quality: Default::default(),
                main_file: None,
                execution: None,
            },
            timings_ms: Timings::default(),
        })
    }
}

/// Opens the gate 100 ms from now, from another thread.
fn release_soon(gate: &Arc<Gate>) -> std::thread::JoinHandle<()> {
    let gate = gate.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        gate.release();
    })
}

fn request() -> WorkRequest {
    WorkRequest {
        archive: "/nonexistent/upload.zip".into(),
        name: None,
        converter: Converter::Pandoc,
        main: None,
        timeout: Duration::from_secs(60),
        preview: false,
        execute: None,
    }
}

fn pipeline(gate: &Arc<Gate>, slots: u32, queue: usize, timeout: Duration) -> Pipeline {
    Pipeline::new(
        gate.clone(),
        Limits {
            slots,
            queue_capacity: queue,
            job_timeout: timeout,
            retention: Duration::from_secs(60),
        },
        Arc::new(Metrics::new()),
    )
}

async fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached in 5 s");
}

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_cap_concurrency_and_full_queue_refuses() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 2, 3, Duration::from_secs(30));
    let mut jobs = Vec::new();
    for _ in 0..5 {
        jobs.push(p.submit(request(), None).expect("2 slots + 3 queued fit"));
    }
    let refused = p.submit(request(), None).unwrap_err();
    assert!(
        matches!(refused, SubmitError::QueueFull { slots: 2, capacity: 3, retry_after_secs } if retry_after_secs >= 1),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("queue of 3 is full"),
        "{refused}"
    );
    assert!(matches!(
        p.check_capacity(),
        Err(SubmitError::QueueFull { .. })
    ));
    assert_eq!(p.queue_depth(), 3);
    assert_eq!(p.queue_position(&jobs[2].id), Some(1));
    assert_eq!(p.queue_position(&jobs[4].id), Some(3));
    wait_until(|| gate.active.load(Ordering::SeqCst) == 2).await;
    gate.release();
    for job in &jobs {
        let outcome = job.wait(Duration::from_secs(10)).await;
        assert!(matches!(outcome, Some(Event::Done(_))), "{outcome:?}");
    }
    assert_eq!(gate.max_active.load(Ordering::SeqCst), 2);
    let mut slots = gate.slots_seen.lock().unwrap().clone();
    slots.sort();
    slots.dedup();
    assert_eq!(slots, vec![0, 1], "slot indices are 0..slots");
    assert_eq!(p.running(), 0);
    p.submit(request(), None)
        .expect("room again after the queue drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_order_and_late_subscribers_replay_them() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 1, 4, Duration::from_secs(30));
    let first = p.submit(request(), None).unwrap();
    let second = p.submit(request(), None).unwrap();
    let (history, mut rx) = second.subscribe();
    assert_eq!(names(&history), ["queued"]);
    assert_eq!(history[0], Event::Queued { position: 1 });
    gate.release();
    let mut seen = history;
    while !seen.last().is_some_and(Event::is_final) {
        seen.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(
        names(&seen),
        [
            "queued",
            "started",
            "unpacking",
            "converting",
            "sanitizing",
            "done"
        ]
    );
    let (replayed, _) = first.subscribe();
    assert_eq!(
        names(&replayed),
        [
            "queued",
            "started",
            "unpacking",
            "converting",
            "sanitizing",
            "done"
        ]
    );
    assert_eq!(first.snapshot().state, State::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_learn_their_new_position() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 1, 4, Duration::from_secs(30));
    let _running = p.submit(request(), None).unwrap();
    let a = p.submit(request(), None).unwrap();
    let b = p.submit(request(), None).unwrap();
    assert_eq!(b.subscribe().0, [Event::Queued { position: 2 }]);
    p.cancel(&a.id);
    assert!(matches!(a.outcome(), Some(Event::Failed(e)) if e.code == ErrorCode::Cancelled));
    assert_eq!(
        b.subscribe().0,
        [Event::Queued { position: 2 }, Event::Queued { position: 1 }]
    );
    assert_eq!(p.queue_position(&b.id), Some(1));
    gate.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_limit_cancels_the_engine_and_fails_as_timeout() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 1, 1, Duration::from_millis(200));
    let job = p.submit(request(), None).unwrap();
    let outcome = job.wait(Duration::from_secs(10)).await;
    match outcome {
        Some(Event::Failed(e)) => {
            assert_eq!(e.code, ErrorCode::Timeout);
            assert!(e.message.contains("time limit"), "{}", e.message);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(
        gate.saw_cancel.load(Ordering::SeqCst),
        1,
        "the engine saw the cancel flag"
    );
    assert_eq!(p.running(), 0, "the slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_directory_is_deleted_when_the_job_ends() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 1, 1, Duration::from_secs(30));
    let upload = tempfile::tempdir().unwrap();
    let path = upload.path().to_path_buf();
    std::fs::write(path.join("upload.zip"), b"PK").unwrap();
    let job = p.submit(request(), Some(upload)).unwrap();
    assert!(path.exists(), "kept while the job runs");
    gate.release();
    job.wait(Duration::from_secs(10)).await.unwrap();
    assert!(!path.exists(), "removed when the job ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_fails_queued_jobs_and_lets_running_ones_finish() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 1, 2, Duration::from_secs(30));
    let running = p.submit(request(), None).unwrap();
    let queued = p.submit(request(), None).unwrap();
    let releaser = release_soon(&gate);
    let report = p
        .shutdown(Duration::from_secs(10), Duration::from_secs(1))
        .await;
    releaser.join().unwrap();
    assert_eq!(
        report,
        ShutdownReport {
            dropped_queued: 1,
            kept_queued: 0,
            cancelled_running: 0,
            stuck: 0
        }
    );
    assert!(matches!(running.outcome(), Some(Event::Done(_))));
    assert!(matches!(queued.outcome(), Some(Event::Failed(e)) if e.code == ErrorCode::Cancelled));
    assert_eq!(
        p.submit(request(), None).unwrap_err(),
        SubmitError::ShuttingDown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_running_jobs_after_the_grace_period() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 2, 2, Duration::from_secs(30));
    let a = p.submit(request(), None).unwrap();
    let b = p.submit(request(), None).unwrap();
    let report = p
        .shutdown(Duration::from_millis(100), Duration::from_secs(5))
        .await;
    assert_eq!(
        report,
        ShutdownReport {
            dropped_queued: 0,
            kept_queued: 0,
            cancelled_running: 2,
            stuck: 0
        }
    );
    assert_eq!(gate.saw_cancel.load(Ordering::SeqCst), 2);
    for job in [a, b] {
        assert!(matches!(job.outcome(), Some(Event::Failed(e)) if e.code == ErrorCode::Cancelled));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_an_engine_that_ignores_cancel() {
    let gate = Arc::new(Gate::default());
    *gate.stubborn.lock().unwrap() = Some(Duration::from_millis(800));
    let p = pipeline(&gate, 1, 1, Duration::from_secs(30));
    let _job = p.submit(request(), None).unwrap();
    let report = p
        .shutdown(Duration::from_millis(50), Duration::from_millis(100))
        .await;
    assert_eq!(report.stuck, 1, "{report:?}");
}

#[test]
fn job_ids_are_unguessable_hex() {
    let a = job::new_job_id();
    let b = job::new_job_id();
    assert!(job::is_job_id(&a) && job::is_job_id(&b));
    assert_ne!(a, b);
    assert!(!job::is_job_id("../etc/passwd"));
    assert!(!job::is_job_id(&a.to_uppercase()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_slot_is_lent_only_while_no_job_waits_and_comes_back() {
    let gate = Arc::new(Gate::default());
    let p = pipeline(&gate, 2, 4, Duration::from_secs(30));
    let first = p.submit(request(), None).unwrap();
    wait_until(|| gate.active.load(Ordering::SeqCst) == 1).await;
    // One slot runs the job; the other is idle and lent.
    let spare = p.lend().expect("an idle slot is lent");
    assert!(p.lend().is_none(), "no second idle slot");
    // A job submitted while the slot is out waits for it...
    let second = p.submit(request(), None).unwrap();
    assert_eq!(p.queue_position(&second.id), Some(1));
    // ...and starts when it comes back.
    drop(spare);
    wait_until(|| gate.active.load(Ordering::SeqCst) == 2).await;
    assert_eq!(
        p.queue_position(&second.id),
        None,
        "started on the returned slot"
    );
    assert!(p.lend().is_none(), "both slots run jobs");
    let seen = gate.slots_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1], "two jobs, two slots");
    gate.release();
    let done = |job: &Arc<Job>| job.snapshot().state == State::Done;
    wait_until(|| done(&first) && done(&second)).await;
    assert!(p.lend().is_some(), "idle again");
}

/// A pipeline keeping its jobs in a `DiskStore` in `dir`.
fn stored_pipeline(gate: &Arc<Gate>, dir: &std::path::Path) -> Pipeline {
    let store = DiskStore::open(&dir.join("queue"), &dir.join("results")).unwrap();
    Pipeline::with_store(
        gate.clone(),
        Limits {
            slots: 1,
            queue_capacity: 4,
            job_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(60),
        },
        Arc::new(Metrics::new()),
        Arc::new(store),
        Arc::new(crate::shared::LocalResults),
    )
}

/// An upload directory in `dir` and the request for its archive.
fn stored_upload(dir: &std::path::Path) -> (WorkRequest, tempfile::TempDir) {
    let upload = tempfile::tempdir_in(dir).unwrap();
    let archive = upload.path().join("project");
    std::fs::write(&archive, b"PK").unwrap();
    (
        WorkRequest {
            archive,
            ..request()
        },
        upload,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_queues_again_what_waited_and_runs_again_what_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = Arc::new(Gate::default());
    let before = stored_pipeline(&dead, tmp.path());
    let (req, upload) = stored_upload(tmp.path());
    let ran = before.submit(req, Some(upload)).unwrap();
    let (req, upload) = stored_upload(tmp.path());
    let waited = before.submit(req, Some(upload)).unwrap();
    // Only the ids given out count; this one's request was still waiting.
    let (req, upload) = stored_upload(tmp.path());
    let unknown = before.submit(req, Some(upload)).unwrap();
    ran.make_durable().unwrap();
    waited.make_durable().unwrap();
    wait_until(|| dead.active.load(Ordering::SeqCst) == 1).await;
    let store = DiskStore::open(&tmp.path().join("queue"), &tmp.path().join("results")).unwrap();
    let records = store.load();
    let state = |id: &str| {
        let r = records.iter().find(|r| r.id == id).unwrap();
        (r.state, r.runs)
    };
    assert_eq!(state(&ran.id), (State::Running, 1));
    assert_eq!(state(&waited.id), (State::Queued, 0));
    assert_eq!(state(&unknown.id), (State::Queued, 0));
    assert!(ran.request.archive.starts_with(tmp.path().join("queue")));

    // The service dies here; a new one opens the same store.
    let alive = Arc::new(Gate::default());
    alive.release();
    let after = stored_pipeline(&alive, tmp.path());
    for id in [&ran.id, &waited.id] {
        let job = after.job(id).expect("the id answers after the restart");
        let outcome = job.wait(Duration::from_secs(10)).await;
        assert!(matches!(outcome, Some(Event::Done(_))), "{outcome:?}");
    }
    assert_eq!(after.job(&ran.id).unwrap().runs(), 2);
    assert_eq!(after.job(&waited.id).unwrap().runs(), 1);
    assert!(
        !ran.request.archive.exists(),
        "the upload goes with the job"
    );
    let records = store.load();
    assert!(records
        .iter()
        .all(|r| r.state == State::Done && r.outcome.is_some()));
    dead.release();
    ran.wait(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_fails_what_cannot_run_and_keeps_finished_jobs_for_their_retention() {
    use super::store::{JobRecord, StoredOutcome};
    let tmp = tempfile::tempdir().unwrap();
    let store = DiskStore::open(&tmp.path().join("queue"), &tmp.path().join("results")).unwrap();
    let now = store::unix_secs(std::time::SystemTime::now());
    let record = |n: u8, state: State, runs: u32| JobRecord {
        id: format!("{n:032x}"),
        created: now - 100 + u64::from(n),
        request: request(),
        state,
        runs,
        announced: true,
        outcome: None,
        finished: None,
    };
    let (req, upload) = stored_upload(tmp.path());
    let mut crashed = record(1, State::Running, store::MAX_RUNS);
    crashed.request.archive = store
        .adopt_upload(&crashed.id, upload, &req.archive)
        .unwrap();
    store.save(&crashed).unwrap();
    let lost = record(2, State::Queued, 0);
    store.save(&lost).unwrap();
    let mut fresh = record(3, State::Failed, 1);
    fresh.outcome = Some(StoredOutcome::of_failure(&Failure::new(
        ErrorCode::Timeout,
        "too slow",
    )));
    fresh.finished = Some(now - 10);
    store.save(&fresh).unwrap();
    let mut stale = fresh.clone();
    stale.id = format!("{:032x}", 4);
    stale.finished = Some(now - 3600);
    store.save(&stale).unwrap();

    let gate = Arc::new(Gate::default());
    gate.release();
    let p = stored_pipeline(&gate, tmp.path());
    let failed = |id: &str| match p.job(id).unwrap().outcome() {
        Some(Event::Failed(err)) => err,
        other => panic!("{other:?}"),
    };
    let err = failed(&crashed.id);
    assert_eq!(err.code, ErrorCode::Internal);
    assert!(err.message.contains("2 times"), "{}", err.message);
    assert!(!crashed.request.archive.exists());
    assert!(failed(&lost.id).message.contains("upload was lost"));
    assert_eq!(
        failed(&fresh.id),
        Failure::new(ErrorCode::Timeout, "too slow")
    );
    assert!(p.job(&stale.id).is_none(), "past its retention");
    let ids: Vec<_> = store.load().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![crashed.id, lost.id, fresh.id]);
    assert_eq!(gate.active.load(Ordering::SeqCst), 0);
    assert!(gate.slots_seen.lock().unwrap().is_empty(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_keeps_announced_queued_jobs_for_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let before = stored_pipeline(&gate, tmp.path());
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let (req, upload) = stored_upload(tmp.path());
        jobs.push(before.submit(req, Some(upload)).unwrap());
    }
    let (running, announced, waiting) = (&jobs[0], &jobs[1], &jobs[2]);
    announced.make_durable().unwrap();
    wait_until(|| gate.active.load(Ordering::SeqCst) == 1).await;
    let releaser = release_soon(&gate);
    let report = before
        .shutdown(Duration::from_secs(10), Duration::from_secs(1))
        .await;
    releaser.join().unwrap();
    assert_eq!(
        report,
        ShutdownReport {
            dropped_queued: 1,
            kept_queued: 1,
            cancelled_running: 0,
            stuck: 0
        }
    );
    assert!(matches!(running.outcome(), Some(Event::Done(_))));
    assert!(matches!(waiting.outcome(), Some(Event::Failed(_))));
    assert_eq!(announced.snapshot().state, State::Queued);
    assert!(announced.request.archive.exists(), "its upload stays");

    let after = stored_pipeline(&gate, tmp.path());
    let job = after.job(&announced.id).expect("taken back");
    let outcome = job.wait(Duration::from_secs(10)).await;
    assert!(matches!(outcome, Some(Event::Done(_))), "{outcome:?}");
}
