//! Logs and metrics. Personal data never reaches a log at info level: no
//! tokens, names or message contents (SPEC §4).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder (a recorder can be installed once;
/// tests that start several servers share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be set (by an embedding program); ours then stays idle.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
