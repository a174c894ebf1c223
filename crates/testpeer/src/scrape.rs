//! Reading values out of the server's `/metrics` text, for the tests and the load tool.

/// The value of a Prometheus counter or gauge in `/metrics` text: the sum of its
/// series whose labels contain `label` (e.g. `reason="gate_closed"`), or of all.
pub fn counter(metrics: &str, name: &str, label: Option<&str>) -> u64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let matches = match (rest.chars().next(), label) {
                (None, None) => true,
                (Some('{'), None) => true,
                (Some('{'), Some(label)) => rest.contains(label),
                _ => false,
            };
            matches.then(|| value.parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

/// Media packets forwarded, audio and video.
pub fn forwarded(metrics: &str) -> u64 {
    counter(metrics, "circlekeeper_media_packets_forwarded_total", None)
}

/// Media packets dropped for `reason` (`gate_closed`, `subscriber_queue_full`, ...).
pub fn dropped(metrics: &str, reason: &str) -> u64 {
    counter(
        metrics,
        "circlekeeper_media_packets_dropped_total",
        Some(&format!("reason=\"{reason}\"")),
    )
}

/// Media packets subscribers reported lost, by `outcome` (`resent`, `unanswered`).
pub fn nacked(metrics: &str, outcome: &str) -> u64 {
    counter(
        metrics,
        "circlekeeper_media_nacked_packets_total",
        Some(&format!("outcome=\"{outcome}\"")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_series_that_match() {
        let text = "# TYPE x counter\n\
                    circlekeeper_media_packets_dropped_total{reason=\"gate_closed\"} 7\n\
                    circlekeeper_media_packets_dropped_total{reason=\"write_failed\"} 2\n\
                    circlekeeper_media_packets_forwarded_total{kind=\"audio\"} 3\n\
                    circlekeeper_media_packets_forwarded_total{kind=\"video\"} 4\n\
                    circlekeeper_sessions 5\n\
                    circlekeeper_sessions_total 9\n";
        assert_eq!(dropped(text, "gate_closed"), 7);
        assert_eq!(forwarded(text), 7);
        assert_eq!(counter(text, "circlekeeper_sessions", None), 5);
        assert_eq!(counter(text, "circlekeeper_missing", None), 0);
    }
}
