//! The functions' log lines: what Lambda's JSON log format and CloudWatch Logs Insights need.

use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lines(format: Option<&str>, level: Option<&str>) -> Vec<String> {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let subscriber = hookline_functions::log_subscriber(format, level, move || out.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!(event_id = "evt_1", "fan-out details");
        tracing::info!(
            tenant_id = "ford-anytown",
            event_id = "evt_1",
            subscription_id = "sub_1",
            delivery_id = "dlv_1",
            attempt = 2,
            status_code = 503,
            "delivery attempt"
        );
        tracing::error!(error = "boom", "fan-out failed; the stream will retry");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines().map(str::to_string).collect()
}

#[test]
fn json_lines_carry_timestamp_level_message_and_top_level_fields() {
    let got = lines(Some("JSON"), Some("INFO"));
    assert_eq!(got.len(), 2, "{got:#?}");
    let line: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["message"], "delivery attempt");
    assert_eq!(line["tenant_id"], "ford-anytown");
    assert_eq!(line["delivery_id"], "dlv_1");
    assert_eq!(line["attempt"], 2);
    let ts = line["timestamp"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
        "{ts}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&got[1]).unwrap()["level"],
        "ERROR"
    );
}

#[test]
fn the_level_filters_and_fatal_means_error() {
    assert_eq!(lines(Some("JSON"), Some("DEBUG")).len(), 3);
    assert_eq!(lines(Some("JSON"), Some("WARN")).len(), 1);
    assert_eq!(lines(Some("JSON"), Some("FATAL")).len(), 1);
    assert_eq!(lines(Some("JSON"), None).len(), 2);
}

#[test]
fn text_without_json_format() {
    let got = lines(Some("Text"), None);
    assert!(
        got[0].contains("delivery attempt") && got[0].contains("delivery_id=\"dlv_1\""),
        "{got:?}"
    );
    assert!(serde_json::from_str::<Value>(&got[0]).is_err());
}
