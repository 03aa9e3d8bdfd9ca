//! A cluster's shared state on NATS JetStream, in the job's vocabulary:
//!
//! - the work queue: stream `TEXJAIL_WORK` (work-queue retention), one
//!   message per job to convert, taken by one worker through the durable
//!   consumer `workers`, acknowledged when the job ends, kept alive by
//!   in-progress acknowledgements while it runs and delivered again when
//!   its worker goes silent for `ack_wait`, at most `MAX_RUNS + 1` times;
//! - job records: KV bucket `texjail-jobs` (a `JobRecord` per job id), so
//!   every node answers for every job;
//! - events: stream `TEXJAIL_EVENTS`, subject `texjail.events.<id>`, read
//!   from the start by whoever follows a job, however late;
//! - leases: KV bucket `texjail-leases`, one entry per result key being
//!   converted, gone after `ack_wait` unless renewed, so one content runs
//!   once across the cluster;
//! - cancel requests: the plain subject `texjail.cancel` (a job id);
//! - program runs: plain request/reply on `texjail.run`, queue group
//!   `runners`, so one worker answers each (a run is answered while its
//!   client waits, so nothing about it needs to outlive a worker).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream, AckKind};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::job::Event;
use super::store::{JobRecord, MAX_RUNS};
use crate::config::Config;
use crate::job::{Failure, JobResult, Stage};

const WORK_STREAM: &str = "TEXJAIL_WORK";
const WORK_SUBJECT: &str = "texjail.work";
const WORKERS: &str = "workers";
const EVENTS_STREAM: &str = "TEXJAIL_EVENTS";
const EVENTS_SUBJECT: &str = "texjail.events";
const RECORDS: &str = "texjail-jobs";
const LEASES: &str = "texjail-leases";
const CANCEL_SUBJECT: &str = "texjail.cancel";
const RUN_SUBJECT: &str = "texjail.run";
const RUNNERS: &str = "runners";
/// Events kept per job: a job has a few dozen.
const EVENTS_PER_JOB: i64 = 1000;

/// A NATS call that failed: the server is unreachable or refused it.
#[derive(Debug, thiserror::Error)]
#[error("NATS: {0}")]
pub struct NatsError(String);

/// Why a run call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum RunCallError {
    #[error("no worker of the cluster takes program runs now")]
    NoWorker,
    #[error("the worker running the program did not answer in time")]
    NoAnswer,
    #[error("NATS: {0}")]
    Nats(String),
}

/// A KV bucket whose entries last `max_age`, one value per key. Its stream
/// is declared as the KV convention has it (`KV_<bucket>`, subjects
/// `$KV.<bucket>.>`) rather than through the client's bucket creation,
/// which asks the server for account details that NATS 2.9 words
/// differently.
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
) -> Result<kv::Store, NatsError> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(|e| nats_err("bucket")(&e))?;
    js.get_key_value(name)
        .await
        .map_err(|e| nats_err("bucket")(&e))
}

fn nats_err(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> NatsError {
    move |e| NatsError(format!("{what}: {e}"))
}

/// One job to convert, as the work queue carries it: its id (the record
/// says the rest) and the key its result will have (the lease's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub id: String,
    pub key: String,
}

/// An event as it travels between nodes; a result's directory is the
/// reader's own cache's.
#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum WireEvent {
    Queued { position: usize },
    Started { slot: u32 },
    Stage { stage: Stage },
    Done { result: Box<JobResult> },
    Failed { failure: Failure },
}

impl WireEvent {
    fn of(event: &Event) -> WireEvent {
        match event {
            Event::Queued { position } => WireEvent::Queued {
                position: *position,
            },
            Event::Started { slot } => WireEvent::Started { slot: *slot },
            Event::Stage(stage) => WireEvent::Stage {
                stage: stage.clone(),
            },
            Event::Done(out) => WireEvent::Done {
                result: Box::new((**out).clone()),
            },
            Event::Failed(failure) => WireEvent::Failed {
                failure: failure.clone(),
            },
        }
    }

    fn into_event(self, results: &Path) -> Event {
        match self {
            WireEvent::Queued { position } => Event::Queued { position },
            WireEvent::Started { slot } => Event::Started { slot },
            WireEvent::Stage { stage } => Event::Stage(stage),
            WireEvent::Done { result } => Event::Done(Arc::new(JobResult {
                dir: results.join(&result.key),
                ..*result
            })),
            WireEvent::Failed { failure } => Event::Failed(failure),
        }
    }
}

/// A job a worker took from the queue: it stays this worker's while
/// [`Taken::progress`] is called more often than `ack_wait`.
pub struct Taken {
    message: jetstream::Message,
    pub item: WorkItem,
    /// How many times the queue has handed this job out, this time included.
    pub delivered: u32,
}

impl Taken {
    pub async fn progress(&self) -> Result<(), NatsError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| nats_err("in-progress ack")(&e))
    }

    /// Done with it, whatever its outcome: the queue forgets it.
    pub async fn finish(&self) -> Result<(), NatsError> {
        self.message
            .double_ack()
            .await
            .map_err(|e| nats_err("ack")(&e))
    }

    /// Gives it back at once, for another worker (this node stops).
    pub async fn give_up(&self) -> Result<(), NatsError> {
        self.message
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(|e| nats_err("nak")(&e))
    }

    /// Whether the queue has handed it out more often than a job may start.
    pub fn past_its_runs(&self) -> bool {
        self.delivered > MAX_RUNS
    }
}

/// The connection and the cluster's streams, buckets and consumer.
pub struct Nats {
    client: async_nats::Client,
    js: jetstream::Context,
    records: kv::Store,
    leases: kv::Store,
    work: consumer::PullConsumer,
    pub ack_wait: Duration,
}

impl Nats {
    /// Connects to the NATS server `config` names ([`Nats::connect`]):
    /// records and events are kept for `service.job_retention_secs` after
    /// a job ends, and a day while it waits.
    pub async fn open(config: &Config) -> Result<Nats, NatsError> {
        let retention = Duration::from_secs(config.service.job_retention_secs);
        Nats::connect(
            &config.cluster.nats_url,
            Duration::from_secs(config.cluster.ack_wait_secs),
            retention + Duration::from_secs(24 * 3600),
        )
        .await
    }

    /// Connects to `url` and makes sure the streams, buckets and the work
    /// consumer exist (every node declares the same ones). Records and
    /// events are kept for `keep`.
    pub async fn connect(url: &str, ack_wait: Duration, keep: Duration) -> Result<Nats, NatsError> {
        let server: async_nats::ServerAddr = url.parse().map_err(|e| nats_err("NATS URL")(&e))?;
        // `nats://user:password@host:port`: the client does not read them
        // from the URL itself.
        let options = match (server.username(), server.password()) {
            (Some(user), Some(password)) => {
                async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
            }
            _ => async_nats::ConnectOptions::new(),
        };
        let client = options
            .name("texjail")
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(5)))
            .connect(url)
            .await
            .map_err(|e| nats_err("connect")(&e))?;
        let js = jetstream::new(client.clone());
        let work_stream = js
            .get_or_create_stream(stream::Config {
                name: WORK_STREAM.into(),
                subjects: vec![WORK_SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err("work stream")(&e))?;
        let work = work_stream
            .get_or_create_consumer(
                WORKERS,
                consumer::pull::Config {
                    durable_name: Some(WORKERS.into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait,
                    // One more than a job may start: the last delivery
                    // only records why it is not run again.
                    max_deliver: i64::from(MAX_RUNS) + 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| nats_err("work consumer")(&e))?;
        js.get_or_create_stream(stream::Config {
            name: EVENTS_STREAM.into(),
            subjects: vec![format!("{EVENTS_SUBJECT}.*")],
            storage: stream::StorageType::File,
            max_age: keep,
            max_messages_per_subject: EVENTS_PER_JOB,
            ..Default::default()
        })
        .await
        .map_err(|e| nats_err("events stream")(&e))?;
        let records = bucket(&js, RECORDS, keep).await?;
        let leases = bucket(&js, LEASES, ack_wait).await?;
        Ok(Nats {
            client,
            js,
            records,
            leases,
            work,
            ack_wait,
        })
    }

    /// Whether the connection is up now (calls made while it is down wait
    /// for it, up to their timeout).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    pub async fn save(&self, record: &JobRecord) -> Result<(), NatsError> {
        let body = serde_json::to_vec(record).map_err(|e| nats_err("job record")(&e))?;
        self.records
            .put(&record.id, body.into())
            .await
            .map_err(|e| nats_err("save job record")(&e))?;
        Ok(())
    }

    pub async fn load(&self, id: &str) -> Result<Option<JobRecord>, NatsError> {
        let Some(body) = self
            .records
            .get(id)
            .await
            .map_err(|e| nats_err("read job record")(&e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| nats_err("job record")(&e))
    }

    /// Puts a job on the queue; returns once JetStream has stored it.
    pub async fn enqueue(&self, item: &WorkItem) -> Result<(), NatsError> {
        let body = serde_json::to_vec(item).map_err(|e| nats_err("work item")(&e))?;
        self.js
            .publish(WORK_SUBJECT, body.into())
            .await
            .map_err(|e| nats_err("enqueue")(&e))?
            .await
            .map_err(|e| nats_err("enqueue")(&e))?;
        Ok(())
    }

    /// Jobs waiting in the queue that no worker has taken.
    pub async fn pending(&self) -> Result<u64, NatsError> {
        let mut work = self.work.clone();
        let info = work.info().await.map_err(|e| nats_err("queue depth")(&e))?;
        Ok(info.num_pending)
    }

    /// Appends `event` to job `id`'s events; returns once it is stored.
    pub async fn publish_event(&self, id: &str, event: &Event) -> Result<(), NatsError> {
        let body = serde_json::to_vec(&WireEvent::of(event)).map_err(|e| nats_err("event")(&e))?;
        self.js
            .publish(format!("{EVENTS_SUBJECT}.{id}"), body.into())
            .await
            .map_err(|e| nats_err("publish event")(&e))?
            .await
            .map_err(|e| nats_err("publish event")(&e))?;
        Ok(())
    }

    /// Job `id`'s events from the first, then as they come; a result's
    /// directory is under `results`.
    pub async fn events(
        &self,
        id: &str,
        results: PathBuf,
    ) -> Result<impl Stream<Item = Event>, NatsError> {
        let stream = self
            .js
            .get_stream(EVENTS_STREAM)
            .await
            .map_err(|e| nats_err("events stream")(&e))?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{EVENTS_SUBJECT}.{id}"),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err("follow events")(&e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| nats_err("follow events")(&e))?;
        Ok(messages.filter_map(move |message| {
            let event = message.ok().and_then(|m| {
                serde_json::from_slice::<WireEvent>(&m.payload)
                    .ok()
                    .map(|wire| wire.into_event(&results))
            });
            std::future::ready(event)
        }))
    }

    /// The next job on the queue, waiting up to `wait` for one.
    pub async fn take(&self, wait: Duration) -> Result<Option<Taken>, NatsError> {
        let mut batch = self
            .work
            .fetch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| nats_err("take work")(&e))?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| nats_err("take work")(&e))?;
            let delivered = message
                .info()
                .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
                .unwrap_or(1);
            match serde_json::from_slice::<WorkItem>(&message.payload) {
                Ok(item) => {
                    return Ok(Some(Taken {
                        message,
                        item,
                        delivered,
                    }))
                }
                Err(e) => {
                    tracing::warn!("dropping a work item that does not parse: {e}");
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
        Ok(None)
    }

    /// Asks every worker to cancel job `id`.
    pub async fn cancel(&self, id: &str) -> Result<(), NatsError> {
        self.client
            .publish(CANCEL_SUBJECT, id.to_string().into())
            .await
            .map_err(|e| nats_err("cancel")(&e))
    }

    /// Ids of jobs someone asked to cancel, from now on.
    pub async fn cancel_requests(&self) -> Result<impl Stream<Item = String>, NatsError> {
        let subscriber = self
            .client
            .subscribe(CANCEL_SUBJECT)
            .await
            .map_err(|e| nats_err("cancel requests")(&e))?;
        Ok(subscriber.map(|message| String::from_utf8_lossy(&message.payload).into_owned()))
    }

    /// Sends a run call to one worker and waits up to `wait` for its
    /// answer.
    pub async fn request_run(
        &self,
        call: Vec<u8>,
        wait: Duration,
    ) -> Result<Vec<u8>, RunCallError> {
        let request = async_nats::Request::new()
            .payload(call.into())
            .timeout(Some(wait));
        match self.client.send_request(RUN_SUBJECT, request).await {
            Ok(message) => Ok(message.payload.to_vec()),
            Err(e) => Err(match e.kind() {
                async_nats::RequestErrorKind::NoResponders => RunCallError::NoWorker,
                async_nats::RequestErrorKind::TimedOut => RunCallError::NoAnswer,
                async_nats::RequestErrorKind::Other => RunCallError::Nats(e.to_string()),
            }),
        }
    }

    /// Run calls for this worker (one worker of the queue group gets
    /// each), with the subject to answer on.
    pub async fn run_calls(
        &self,
    ) -> Result<impl Stream<Item = (Vec<u8>, Option<String>)>, NatsError> {
        let subscriber = self
            .client
            .queue_subscribe(RUN_SUBJECT, RUNNERS.to_string())
            .await
            .map_err(|e| nats_err("run calls")(&e))?;
        Ok(subscriber.map(|message| {
            let reply = message.reply.map(|r| r.to_string());
            (message.payload.to_vec(), reply)
        }))
    }

    /// Answers a run call.
    pub async fn answer(&self, reply: String, answer: Vec<u8>) -> Result<(), NatsError> {
        self.client
            .publish(reply, answer.into())
            .await
            .map_err(|e| nats_err("run answer")(&e))
    }

    /// Takes the lease on result `key` for `holder`; its revision, or None
    /// while another holds it.
    pub async fn try_lease(&self, key: &str, holder: &str) -> Result<Option<u64>, NatsError> {
        match self.leases.create(key, holder.to_string().into()).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(nats_err("take lease")(&e)),
        }
    }

    /// Renews a lease taken at `revision`; its new revision.
    pub async fn renew_lease(
        &self,
        key: &str,
        holder: &str,
        revision: u64,
    ) -> Result<u64, NatsError> {
        self.leases
            .update(key, holder.to_string().into(), revision)
            .await
            .map_err(|e| nats_err("renew lease")(&e))
    }

    pub async fn release_lease(&self, key: &str) -> Result<(), NatsError> {
        self.leases
            .delete(key)
            .await
            .map_err(|e| nats_err("release lease")(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Converter, ErrorCode, Preview, StatusClass};

    fn result() -> JobResult {
        let summary: crate::job::Summary = serde_json::from_value(serde_json::json!({
            "status": "ok",
            "converter": "latexml",
            "main_file": {"file": "main.tex", "automatic": true, "others": [], "reason": "only"},
            "attempts": [],
            "diagnostics": [],
            "assets": [],
            "missing": [],
            "math_count": 1,
            "image_count": 0,
            "title": null,
            "quality": crate::convert::quality::Quality::default()
        }))
        .unwrap();
        JobResult {
            key: "ab".repeat(32),
            cache_hit: false,
            project_digest: "cd".repeat(32),
            dir: PathBuf::from("/elsewhere/results/x"),
            summary,
            timings_ms: Default::default(),
        }
    }

    #[test]
    fn every_event_crosses_between_nodes_and_a_result_lands_in_the_readers_cache() {
        let events = [
            Event::Queued { position: 3 },
            Event::Started { slot: 1 },
            Event::Stage(Stage::Converting {
                converter: Converter::Pandoc,
                pass: "convert".into(),
            }),
            Event::Stage(Stage::Preview(Preview {
                key: "ef".repeat(32),
                converter: Converter::Pandoc,
                status: StatusClass::Ok,
                quality: Default::default(),
            })),
            Event::Done(Arc::new(result())),
            Event::Failed(Failure::new(ErrorCode::Timeout, "too slow")),
        ];
        let here = Path::new("/var/lib/texjail/results");
        for event in events {
            let wire = serde_json::to_vec(&WireEvent::of(&event)).unwrap();
            let back = serde_json::from_slice::<WireEvent>(&wire)
                .unwrap()
                .into_event(here);
            match (&event, &back) {
                (Event::Done(sent), Event::Done(got)) => {
                    assert_eq!(got.dir, here.join(&sent.key));
                    assert_eq!(
                        JobResult {
                            dir: got.dir.clone(),
                            ..(**sent).clone()
                        },
                        **got
                    );
                }
                _ => assert_eq!(back, event),
            }
        }
    }
}
