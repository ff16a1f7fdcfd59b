//! `hookline`: the command line. `hookline dev` runs the whole pipeline locally.

mod receive;

use clap::{Parser, Subcommand};
use hookline::{DevConfig, start};
use hookline_core::Config;
use hookline_core::ports::Queue;
use hookline_core::retry_schedule::RetrySchedule;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hookline",
    version,
    about = "Webhook delivery: signed, retried, logged"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on loopback and run fan-out, delivery and dead-lettering in this process.
    Dev(DevArgs),
    /// Run a receiver that prints every webhook it gets and checks its signature.
    Receive(ReceiveArgs),
    /// Manage a running deployment's event types.
    #[command(subcommand)]
    EventTypes(EventTypesCommand),
    /// Print the dead-lettered jobs of a data directory, one JSON object per line.
    DeadLetters {
        #[arg(long, env = "HOOKLINE_DATA_DIR", default_value = ".hookline")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum EventTypesCommand {
    /// Import catalogue files (`events/catalog/*.json`): declare each type, or change it where
    /// it differs. Prints what each import did.
    Import {
        /// Catalogue files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The deployment's API (`hookline dev`'s address, or the API Gateway URL).
        #[arg(long, env = "HOOKLINE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An admin key (or a tenant key, to import for that tenant).
        #[arg(long, env = "HOOKLINE_API_KEY")]
        api_key: String,
        /// With the admin key: import for this tenant only.
        #[arg(long)]
        tenant_id: Option<String>,
    },
}

#[derive(clap::Args)]
struct ReceiveArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// The subscription's secret, to verify `webhook-signature`.
    #[arg(long, env = "HOOKLINE_RECEIVE_SECRET")]
    secret: Option<String>,
    /// Status code to answer with (try 500 or 410 to watch retries and disabling).
    #[arg(long, default_value_t = 200)]
    status: u16,
}

#[derive(clap::Args)]
struct DevArgs {
    /// Address the API listens on.
    #[arg(long, env = "HOOKLINE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory holding the database and the generated admin key.
    #[arg(long, env = "HOOKLINE_DATA_DIR", default_value = ".hookline")]
    data_dir: PathBuf,
    #[command(flatten)]
    settings: Config,
    /// Receivers of the main delivery lane, each adding 10 attempt slots; every job is attempted
    /// on its own as soon as a slot is free.
    #[arg(long, env = "HOOKLINE_DELIVERY_WORKERS", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    delivery_workers: u16,
    /// Attempt slots of the slow lane, which takes the jobs of failing endpoints and every
    /// retry (0: no slow lane).
    #[arg(long, env = "HOOKLINE_SLOW_LANE_SLOTS", default_value_t = hookline::SLOW_LANE_SLOTS as u16,
          value_parser = clap::value_parser!(u16).range(0..=2560))]
    slow_lane_slots: u16,
    /// Most attempts one endpoint has in progress in a lane at once.
    #[arg(long, env = "HOOKLINE_ENDPOINT_SHARE", default_value_t = hookline::ENDPOINT_SHARE as u16,
          value_parser = clap::value_parser!(u16).range(1..))]
    endpoint_share: u16,
    /// Where state and jobs live: `embedded` (SQLite in the data directory) or `aws` (DynamoDB
    /// and SQS, with the credentials and region of the environment).
    #[arg(long, env = "HOOKLINE_BACKEND", default_value = "embedded", value_parser = ["embedded", "aws"])]
    backend: String,
    /// With `--backend aws`: an endpoint such as moto's server (`http://127.0.0.1:5000`); the
    /// table and queues are then created if missing.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    aws_endpoint: Option<String>,
    /// With `--backend aws`: the DynamoDB table.
    #[arg(long, env = "HOOKLINE_TABLE", default_value = "hookline")]
    table: String,
    /// With `--backend aws`: the SQS delivery queue (its dead-letter queue is `<name>-dlq`).
    #[arg(long, env = "HOOKLINE_QUEUE", default_value = "hookline-deliveries")]
    queue: String,
    /// With `--backend aws`: an SNS topic ARN to publish failure notifications to.
    #[arg(long, env = "HOOKLINE_NOTIFY_TOPIC_ARN")]
    notify_topic: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "HOOKLINE_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn dev(args: DevArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging(&args.log_format);
    args.settings.validate()?;
    let mut config = DevConfig::new(&args.data_dir);
    config.listen = args.listen;
    config.settings = args.settings;
    config.admin_key = std::env::var("HOOKLINE_ADMIN_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    config.delivery_workers = args.delivery_workers.into();
    config.slow_lane_slots = args.slow_lane_slots.into();
    config.endpoint_share = args.endpoint_share.into();
    if args.backend == "aws" {
        config.backend = hookline::Backend::Aws {
            endpoint: args.aws_endpoint.filter(|e| !e.is_empty()),
            table: args.table,
            queue: args.queue,
            notify_topic: args.notify_topic.filter(|t| !t.is_empty()),
        };
    }
    let running = start(config.clone()).await?;
    println!("Hookline is listening on http://{}", running.addr);
    match &config.backend {
        hookline::Backend::Embedded => println!("Data directory: {}", config.data_dir.display()),
        hookline::Backend::Aws {
            endpoint,
            table,
            queue,
            ..
        } => println!(
            "Backend: DynamoDB table {table}, SQS queue {queue}{}",
            endpoint
                .as_deref()
                .map(|e| format!(" at {e}"))
                .unwrap_or_default()
        ),
    }
    println!(
        "Retry schedule: {} ({} attempts)",
        config.settings.retry_schedule,
        config.settings.retry_schedule.max_attempts()
    );
    if running.admin_key_generated {
        println!(
            "Admin API key (generated now, stored in {}; shown only this once):\n  {}",
            config.data_dir.join("admin_key").display(),
            running.admin_key
        );
    }
    if !config.settings.allow_private_destinations {
        println!(
            "Private and loopback destinations are refused (use --allow-private-destinations for a local receiver)."
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight deliveries; queued jobs stay stored");
    running.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Dev(args) => dev(args).await,
        Command::Receive(args) => receive::run(args.listen, args.secret, args.status).await,
        Command::DeadLetters { data_dir, limit } => dead_letters(data_dir, limit).await,
        Command::EventTypes(EventTypesCommand::Import {
            files,
            url,
            api_key,
            tenant_id,
        }) => import_catalogues(files, url, api_key, tenant_id).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookline: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Posts each catalogue to `POST /v1/event-types/import`; stops at the first refusal.
async fn import_catalogues(
    files: Vec<PathBuf>,
    url: String,
    api_key: String,
    tenant_id: Option<String>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = reqwest::Client::new();
    let endpoint = format!("{}/v1/event-types/import", url.trim_end_matches('/'));
    for file in files {
        let mut catalogue: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)
            .map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
        if let (Some(t), Some(obj)) = (&tenant_id, catalogue.as_object_mut()) {
            obj.insert("tenant_id".into(), t.clone().into());
        }
        let response = client
            .post(&endpoint)
            .bearer_auth(&api_key)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&catalogue)?)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{}: HTTP {status}: {text}", file.display()).into());
        }
        println!("{}: {text}", file.display());
    }
    Ok(())
}

async fn dead_letters(
    data_dir: PathBuf,
    limit: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let db = hookline_embedded::Db::open(&data_dir)?;
    let queue = hookline_embedded::SqliteQueue::new(
        db,
        hookline_embedded::QueueConfig {
            name: "deliveries".into(),
            dead_letter_name: "deliveries-dlq".into(),
            visibility_timeout: hookline::IN_FLIGHT_VISIBILITY,
            max_receive_count: RetrySchedule::default().max_receive_count(),
        },
    );
    for dl in queue.list_dead_letters(limit).await? {
        println!(
            "{}",
            serde_json::json!({"message_id": dl.id, "job": serde_json::from_str::<serde_json::Value>(&dl.body).unwrap_or(serde_json::Value::String(dl.body)), "reason": dl.reason})
        );
    }
    Ok(())
}
