//! Logs as Lambda's advanced logging controls ask: JSON lines with a timestamp and top-level
//! fields that CloudWatch Logs Insights discovers, at the level the function is configured for.

/// Logs as Lambda's advanced logging controls ask, from `AWS_LAMBDA_LOG_FORMAT` and
/// `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`): see [`log_subscriber`].
pub fn init_logging() {
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").ok();
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    tracing::subscriber::set_global_default(log_subscriber(
        format.as_deref(),
        level.as_deref(),
        std::io::stdout,
    ))
    .expect("logging is initialised once");
}

/// With format `JSON`, one JSON object per line with `timestamp` (RFC 3339, which Lambda needs
/// to filter by level), `level`, `message` and the line's fields at the top level (`tenant_id`,
/// `event_id`, `subscription_id`, `delivery_id`, `attempt`, ...), which CloudWatch Logs
/// Insights discovers as fields; text otherwise. `level` is a tracing level; `FATAL` counts
/// as `ERROR`; none or an unknown one is `INFO`.
pub fn log_subscriber<W>(
    format: Option<&str>,
    level: Option<&str>,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::LevelFilter;
    let level = match level.unwrap_or_default().to_ascii_uppercase().as_str() {
        "FATAL" => LevelFilter::ERROR,
        // (tracing reads "" as ERROR)
        "" => LevelFilter::INFO,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    };
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .with_max_level(level)
        .with_writer(writer);
    if format.is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        )
    } else {
        Box::new(builder.without_time().finish())
    }
}
