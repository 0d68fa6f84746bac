//! Structured logs, as text or JSON lines. The filter comes from `REVIEWGATE_LOG` (or
//! `RUST_LOG`), default `info`; HTTP client internals are kept at `warn`, and octocrab's own
//! request tracing (`tower_http`, which repeats every failure the App already logs with
//! context) is off.

use tracing_subscriber::EnvFilter;

use super::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = std::env::var("REVIEWGATE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| {
            "info,octocrab=warn,hyper=warn,hyper_util=warn,tower=warn,tower_http=off".to_string()
        });
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
