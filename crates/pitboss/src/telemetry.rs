//! Structured logs, as text for people or JSON for collectors.

use tracing_subscriber::EnvFilter;

use crate::config::Settings;

pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests, the demo's embedded server) keeps the first subscriber.
    let _ = if settings.log_format == "json" { builder.json().try_init() } else { builder.try_init() };
}
