//! The local runtime: `hookline dev` serves the API on loopback and runs fan-out, delivery and
//! dead-lettering in the same process, through the same core code the Lambda functions run: on
//! the embedded adapters by default, or on DynamoDB and SQS (`--backend aws`), with small
//! pollers standing in for the DynamoDB stream and the SQS event source mapping.

use hookline_api::{ApiState, router};
use hookline_core::clock::SystemClock;
use hookline_core::pipeline::Removal;
use hookline_core::pipeline::lane::Lane;
use hookline_core::ports::{Notifier, Queue, Store};
use hookline_core::{Config, Hookline};
use hookline_embedded::{Db, QueueConfig, SqliteQueue, SqliteStore};
use hookline_sender::{CheckedResolver, HttpSender};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// How long a received job stays hidden while it is being delivered; longer than the longest
/// delivery timeout, so a job is never handed to a second worker while the first still works.
pub const IN_FLIGHT_VISIBILITY: Duration = Duration::from_secs(60);
/// How often idle loops look for new work.
pub const IDLE_POLL: Duration = Duration::from_millis(25);
/// How often the outbox loop looks at DynamoDB's outbox (a look reads its 32 partitions): it
/// finds only what no hand-off brought (events at least [`LOOK_MIN_AGE`] old), so it can be
/// rare.
pub const AWS_FANOUT_IDLE_MAX: Duration = Duration::from_secs(5);
/// The same on SQLite, where a look is one indexed read: once a second, not every
/// [`IDLE_POLL`], since under load a look re-reads events the hand-off is already fanning out.
pub const EMBEDDED_FANOUT_IDLE_MAX: Duration = Duration::from_secs(1);
/// How old an event in the outbox must be for the outbox loop to fan it out: younger, it is
/// the hand-off's.
pub const LOOK_MIN_AGE: Duration = Duration::from_secs(2);
pub const RECEIVE_BATCH: usize = 10;
/// The slow lane's attempt slots by default: half of the main lane's (4 workers x 10).
pub const SLOW_LANE_SLOTS: usize = 20;
/// An endpoint's share of a lane by default: a quarter of the main lane's slots and half of the
/// slow lane's, so one hanging endpoint leaves the rest to everyone else while its attempts
/// time out (in the main lane only until its first failure is recorded).
pub const ENDPOINT_SHARE: usize = 10;
/// How long the delivery workers keep a subscription and its endpoint's health.
const LOCAL_CACHE: Duration = Duration::from_secs(5);
pub const FANOUT_BATCH: usize = 100;

/// Where state and jobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the data directory.
    Embedded,
    /// DynamoDB and SQS, as in production. With `endpoint` (an emulator such as moto's server)
    /// the table and queues are created if missing.
    Aws {
        endpoint: Option<String>,
        table: String,
        queue: String,
        /// An SNS topic ARN to publish failure notifications to (the notify function's job on
        /// AWS), if any.
        notify_topic: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct DevConfig {
    pub backend: Backend,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The delivery settings every runtime shares (schedule, destinations, timeouts).
    pub settings: Config,
    /// The admin key to require; `None` reads or generates one in the data directory.
    pub admin_key: Option<String>,
    /// Delivery workers of the main lane, each receiving up to 10 jobs at a time, with 10
    /// attempt slots each; 0 runs none (tests that drive deliveries themselves, from one
    /// queue: there is no slow lane then).
    pub delivery_workers: usize,
    /// Attempt slots of the slow lane (failing endpoints and retries); 0: no slow lane.
    pub slow_lane_slots: usize,
    /// Most attempts one endpoint has in progress in a lane at once.
    pub endpoint_share: usize,
    /// How long a received job stays hidden before it is handed out again.
    pub in_flight_visibility: Duration,
    /// Fixed DNS answers (tests only: e.g. a name that resolves to a private address).
    pub fixed_dns: std::collections::HashMap<String, Vec<std::net::IpAddr>>,
}

impl DevConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DevConfig {
            backend: Backend::Embedded,
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: data_dir.into(),
            settings: Config::default(),
            admin_key: None,
            delivery_workers: 4,
            slow_lane_slots: SLOW_LANE_SLOTS,
            endpoint_share: ENDPOINT_SHARE,
            in_flight_visibility: IN_FLIGHT_VISIBILITY,
            fixed_dns: Default::default(),
        }
    }
}

/// A running Hookline: its API address, admin key, and the handles to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_key: String,
    /// True when the admin key was generated by this start (and should be shown once).
    pub admin_key_generated: bool,
    pub hookline: Hookline,
    /// The SQLite store, on the embedded backend.
    pub sqlite: Option<SqliteStore>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight deliveries finish and record their outcome,
    /// and returns. Queued work stays in the database for the next start.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Reads the admin key from the data directory, or generates and stores one.
pub fn admin_key(data_dir: &Path) -> std::io::Result<(String, bool)> {
    let path = data_dir.join("admin_key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        let key = key.trim().to_string();
        if !key.is_empty() {
            return Ok((key, false));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let key = format!(
        "hk_admin_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    write_private(&path, &key)?;
    Ok((key, true))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(contents.as_bytes())
}

/// Starts the API, the fan-out loop and the delivery workers.
pub async fn start(config: DevConfig) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let (admin_key, admin_key_generated) = match config.admin_key.clone() {
        Some(k) => (k, false),
        None => admin_key(&config.data_dir)?,
    };
    let mut notifier: Option<Arc<dyn Notifier>> = None;
    // without workers nothing would consume a second queue: tests that drive deliveries
    // themselves see one
    let slow_lane = config.delivery_workers > 0 && config.slow_lane_slots > 0;
    let max_receive_count = config.settings.retry_schedule.max_receive_count();
    type Queues = (Arc<dyn Queue>, Option<Arc<dyn Queue>>);
    let (store, (queue, slow), sqlite): (Arc<dyn Store>, Queues, _) = match &config.backend {
        Backend::Embedded => {
            let db = Db::open(&config.data_dir)?;
            let lane = |name: &str| -> Arc<dyn Queue> {
                Arc::new(SqliteQueue::new(
                    db.clone(),
                    QueueConfig {
                        name: name.into(),
                        dead_letter_name: "deliveries-dlq".into(),
                        visibility_timeout: config.in_flight_visibility,
                        max_receive_count,
                    },
                ))
            };
            let queues = (
                lane("deliveries"),
                slow_lane.then(|| lane("deliveries-slow")),
            );
            let store = SqliteStore::new(db);
            (Arc::new(store.clone()), queues, Some(store))
        }
        Backend::Aws {
            endpoint,
            table,
            queue: queue_name,
            notify_topic,
        } => {
            if let Some(topic) = notify_topic {
                notifier = Some(Arc::new(
                    hookline_aws::sns_notifier(endpoint.as_deref(), topic).await,
                ));
            }
            let (store, sqs) = hookline_aws::connect(
                endpoint.as_deref(),
                table,
                queue_name,
                config.in_flight_visibility,
                max_receive_count,
                config.settings.retention(),
            )
            .await?;
            let slow: Option<Arc<dyn Queue>> = match slow_lane {
                true => Some(Arc::new(
                    hookline_aws::connect_slow_lane(
                        endpoint.as_deref(),
                        queue_name,
                        config.in_flight_visibility,
                        max_receive_count,
                    )
                    .await?,
                )),
                false => None,
            };
            (Arc::new(store), (Arc::new(sqs), slow), None)
        }
    };
    let settings = config.settings.settings(Removal::Hookline);
    let resolver =
        CheckedResolver::new(settings.destination).with_fixed_answers(config.fixed_dns.clone());
    let hookline = Hookline::new(
        store,
        queue,
        Arc::new(HttpSender::with_resolver(settings.destination, resolver)),
        Arc::new(SystemClock),
        notifier,
        settings,
    )
    // this process makes every change to its subscriptions (each forgets the cached copy) and
    // to its health (each updates the cached one), so its caches are never stale
    .with_subscription_cache(LOCAL_CACHE)
    .with_endpoint_share(config.endpoint_share)
    // this process runs the fan-out loop
    .with_local_fanout();
    let hookline = match slow {
        Some(slow) => hookline.with_slow_lane(slow),
        None => hookline,
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);

    let app = router(ApiState {
        hookline: hookline.clone(),
        admin_key: admin_key.clone(),
    });
    let mut api_stop = stopped.clone();
    let mut tasks = vec![tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = api_stop.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "API server stopped");
        }
    })];
    let idle_max = match &config.backend {
        Backend::Embedded => EMBEDDED_FANOUT_IDLE_MAX,
        Backend::Aws { .. } => AWS_FANOUT_IDLE_MAX,
    };
    tasks.push(tokio::spawn(fanout_loop(hookline.clone(), stopped.clone())));
    tasks.push(tokio::spawn(outbox_loop(
        hookline.clone(),
        stopped.clone(),
        idle_max,
    )));
    if config.delivery_workers > 0 {
        let main = hookline.in_lane(Lane::Main);
        let slots = config.delivery_workers * RECEIVE_BATCH;
        tasks.extend(lane(main, slots, config.delivery_workers, stopped.clone()));
        if hookline.lanes.slow.is_some() {
            let slow = hookline.in_lane(Lane::Slow);
            tasks.extend(lane(slow, config.slow_lane_slots, 1, stopped.clone()));
        }
    }
    Ok(Running {
        addr,
        admin_key,
        admin_key_generated,
        hookline,
        sqlite,
        stop,
        tasks,
    })
}

/// Waits for `wait` or until asked to stop; returns whether to stop.
async fn idle(stopped: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    let stop_requested = tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = stopped.wait_for(|s| *s) => true,
    };
    stop_requested || *stopped.borrow()
}

/// Plays the role of the DynamoDB stream: fans out the events this process stores as they are
/// handed over ([`hookline_core::pipeline::handoff`]), while [`outbox_loop`] finds the rest.
async fn fanout_loop(hookline: Hookline, mut stopped: watch::Receiver<bool>) {
    let handoff = hookline.handoff.clone().expect("a local fan-out loop");
    while !*stopped.borrow() {
        let handed = handoff.take(FANOUT_BATCH);
        if !handed.is_empty() {
            if let Some(e) = hookline.fan_out_batch(&handed).await.error {
                tracing::error!(error = %e, "fan-out failed; the outbox keeps the rest");
            }
            handoff.finished(&handed);
            continue;
        }
        let stop_requested = tokio::select! {
            _ = handoff.ready() => false,
            _ = stopped.wait_for(|s| *s) => true,
        };
        if stop_requested {
            break;
        }
    }
}

/// Plays the role of the outbox sweep: every `idle_max` it fans out the events that have waited
/// in the outbox for [`LOOK_MIN_AGE`] and that no hand-off holds (stored by another process or
/// before a restart, or left by a failed fan-out), and looks again at once while a look fills a
/// batch. Younger events are the hand-off's, so an event is not fanned out (and a failure
/// notification published) twice by a look that read it just before its hand-off.
async fn outbox_loop(hookline: Hookline, mut stopped: watch::Receiver<bool>, idle_max: Duration) {
    while !*stopped.borrow() {
        let wait = match hookline.fan_out_stale(LOOK_MIN_AGE, FANOUT_BATCH).await {
            Ok(n) if n >= FANOUT_BATCH => continue,
            Ok(_) => idle_max,
            Err(e) => {
                tracing::error!(error = %e, "fan-out failed; retrying");
                Duration::from_secs(1)
            }
        };
        if idle(&mut stopped, wait).await {
            break;
        }
    }
}

/// Plays the role of the SQS event source mapping of one lane: `receivers` loops share the
/// lane's `slots`; a loop receives a batch when it holds a batch's worth of free slots, and
/// each job of it is handled on its own and frees its slot when it is settled, so no job waits
/// for a slower one received with it.
fn lane(
    hookline: Hookline,
    slots: usize,
    receivers: usize,
    stopped: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let lane_slots = slots.max(1);
    let slots = Arc::new(Semaphore::new(lane_slots));
    (0..receivers.max(1))
        .map(|_| {
            tokio::spawn(receive_loop(
                hookline.clone(),
                slots.clone(),
                lane_slots,
                stopped.clone(),
            ))
        })
        .collect()
}

async fn receive_loop(
    hookline: Hookline,
    slots: Arc<Semaphore>,
    lane_slots: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let mut handling = tokio::task::JoinSet::new();
    while !*stopped.borrow() {
        // a full batch of slots, so that receives stay full batches (one query or request for
        // up to 10 jobs), however the slots are freed
        let want = RECEIVE_BATCH.min(lane_slots);
        let mut permits = tokio::select! {
            permits = slots.clone().acquire_many_owned(want as u32) => permits.expect("slots stay open"),
            _ = stopped.wait_for(|s| *s) => break,
        };
        let wait = match hookline.queue.receive(want).await {
            Ok(batch) if !batch.is_empty() => {
                for message in batch {
                    let permit = permits.split(1).expect("a slot per received job");
                    let hookline = hookline.clone();
                    handling.spawn(async move {
                        hookline.process(&message).await;
                        drop(permit);
                    });
                }
                while handling.try_join_next().is_some() {}
                continue;
            }
            Ok(_) => IDLE_POLL,
            Err(e) => {
                tracing::error!(error = %e, "receiving jobs failed; retrying");
                Duration::from_secs(1)
            }
        };
        drop(permits);
        if idle(&mut stopped, wait).await {
            break;
        }
    }
    // in-flight deliveries finish and record their outcome
    while handling.join_next().await.is_some() {}
}
