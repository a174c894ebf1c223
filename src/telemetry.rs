//! Logs and metrics. Personal data never reaches a log at info level: no
//! tokens, names or message contents (SPEC §4).

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Our own events at info; the WebRTC stack's per-connection chatter only
/// when something goes wrong (`CIRCLEKEEPER_LOG` overrides all of it).
const DEFAULT_FILTER: &str = "info,tower_http=warn,sqlx=warn,webrtc=warn,rtc=warn,rtc_ice=warn,\
    rtc_dtls=warn,rtc_srtp=warn,rtc_sctp=warn,rtc_interceptor=warn,rtc_rtp=warn,rtc_rtcp=warn,\
    rtc_datachannel=warn,rtc_mdns=warn,rtc_stun=warn,rtc_sdp=warn,rtc_shared=warn,rtc_media=warn,rtc_crypto=warn,rtc_turn=warn";

pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("CIRCLEKEEPER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, not in files or journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Bucket bounds of `circlekeeper_gate_*_seconds` (SPEC §9: a gate change takes
/// effect within 20 ms).
pub const GATE_BUCKETS_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The process-wide Prometheus recorder (a recorder can be installed once;
/// tests that start several servers share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Gate timings as histograms with buckets (not summaries): they add up
            // across scrapes, and the load tool diffs them over its window.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Prefix("circlekeeper_gate_".into()),
                    GATE_BUCKETS_SECONDS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be set (by an embedding program); ours then stays idle.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
