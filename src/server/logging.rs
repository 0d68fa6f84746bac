//! Structured logs, as text or JSON lines. The filter comes from `REVIEWGATE_LOG` (or
//! `RUST_LOG`), default [`DEFAULT_FILTER`].
//!
//! The GitHub client's own lines (octocrab and the HTTP stack under it) stay off at every
//! level unless the filter names them: during a GitHub outage octocrab logs an ERROR line a
//! second without saying which request failed, while the App logs one WARN per failing
//! endpoint with its template, status and attempt (`github::client`), so an operator who
//! turns on `debug` gets the App's detail, not a flood.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

use super::config::LogFormat;

/// The filter when neither `REVIEWGATE_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_FILTER: &str = "info";

/// Targets kept quiet unless the filter names them, with the level they get.
const QUIET: &[(&str, &str)] = &[
    ("octocrab", "off"),
    ("tower_http", "off"),
    ("tower", "warn"),
    ("hyper", "warn"),
    ("hyper_util", "warn"),
    ("reqwest", "warn"),
    ("rustls", "warn"),
    ("h2", "warn"),
    ("sqlx", "warn"),
];

/// The filter to use: `given` (`REVIEWGATE_LOG`), else `RUST_LOG`, else the default; one that
/// does not parse falls back to `info` rather than stopping start-up.
pub fn filter(given: Option<&str>) -> EnvFilter {
    let text = given
        .map(str::to_string)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| DEFAULT_FILTER.to_string());
    let mut filter = EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new("info"));
    for (target, level) in QUIET {
        let named = text
            .split(',')
            .any(|d| d.trim().split(['=', '[']).next() == Some(*target));
        if !named {
            if let Ok(directive) = format!("{target}={level}").parse::<Directive>() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

pub fn init(format: LogFormat, given: Option<&str>) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(given))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_stays_quiet_unless_named() {
        let debug = filter(Some("debug")).to_string();
        assert!(debug.contains("octocrab=off"), "{debug}");
        assert!(debug.contains("tower_http=off"), "{debug}");
        let named = filter(Some("debug,octocrab=debug")).to_string();
        assert!(named.contains("octocrab=debug"), "{named}");
        assert!(!named.contains("octocrab=off"), "{named}");
        assert!(filter(Some("not a filter [")).to_string().contains("info"));
    }
}
