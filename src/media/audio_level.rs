//! Reading the RFC 6464 audio level from published audio, at a bounded event rate.

use std::time::{Duration, Instant};

use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::shared::marshal::Unmarshal;

/// At most this many `AudioLevel` events per second per peer.
pub(crate) const MAX_EVENTS_PER_SEC: u32 = 5;

/// Parses the extension's one-byte payload; `None` when absent or malformed.
pub(crate) fn parse(payload: &[u8]) -> Option<(u8, bool)> {
    let mut buf = payload;
    let ext = AudioLevelExtension::unmarshal(&mut buf).ok()?;
    Some((ext.level, ext.voice))
}

/// Keeps the loudest level seen in each window and emits it once per window, so a
/// short word between two reports is not lost.
pub(crate) struct LevelReporter {
    interval: Duration,
    window_start: Option<Instant>,
    /// Loudest (lowest dBov) level in the current window, and whether any packet had voice.
    loudest: Option<(u8, bool)>,
}

impl LevelReporter {
    pub(crate) fn new(max_per_sec: u32) -> Self {
        LevelReporter {
            interval: Duration::from_secs(1) / max_per_sec.max(1),
            window_start: None,
            loudest: None,
        }
    }

    /// Records one packet's level; returns a level to report when the window is over.
    pub(crate) fn observe(&mut self, now: Instant, level: u8, voice: bool) -> Option<(u8, bool)> {
        self.loudest = Some(match self.loudest {
            Some((l, v)) => (l.min(level), v || voice),
            None => (level, voice),
        });
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= self.interval {
            self.window_start = Some(now);
            return self.loudest.take();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_voice_flag_and_level() {
        assert_eq!(parse(&[0x80 | 30]), Some((30, true)));
        assert_eq!(parse(&[127]), Some((127, false)));
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn reports_at_most_the_configured_rate_and_keeps_the_loudest() {
        let mut r = LevelReporter::new(5);
        let t0 = Instant::now();
        let mut reports = Vec::new();
        // 50 packets per second for 2 seconds.
        for i in 0..100u32 {
            let level = if i == 13 { 10 } else { 90 };
            let now = t0 + Duration::from_millis(u64::from(i) * 20);
            if let Some(rep) = r.observe(now, level, i == 13) {
                reports.push(rep);
            }
        }
        assert!(reports.len() <= 10, "{} reports in 2 s", reports.len());
        assert!(reports.len() >= 9);
        assert!(reports.contains(&(10, true)), "the loud packet is reported");
    }
}
