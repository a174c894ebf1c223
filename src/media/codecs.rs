//! The codecs and header extensions every connection negotiates: Opus and VP8, each
//! under the numbering of the side that offers, and the RFC 6464 audio level.

use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::shared::error::Error;

use super::MediaKind;

/// RFC 6464 client-to-mixer audio level.
pub(crate) const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Payload-type numbers for the two codecs. Numbers are each side's own choice
/// (RFC 3264): the server offers Opus as 111 and VP8 as 96, as Chromium does, and
/// forwards to each client under the numbers that client negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadTypes {
    pub opus: u8,
    pub vp8: u8,
}

impl PayloadTypes {
    /// The server's own numbering (and Chromium's).
    pub const SERVER: PayloadTypes = PayloadTypes { opus: 111, vp8: 96 };
    /// Firefox's numbering, for test clients that must differ from the server.
    pub const FIREFOX: PayloadTypes = PayloadTypes {
        opus: 109,
        vp8: 120,
    };
}

/// Builds the codec table every peer connection uses. Public so the test clients
/// speak exactly the same dialect.
pub fn media_engine() -> Result<MediaEngine, Error> {
    media_engine_numbered(PayloadTypes::SERVER)
}

/// The same codec table under other payload-type numbers (test clients).
pub fn media_engine_numbered(pts: PayloadTypes) -> Result<MediaEngine, Error> {
    let mut engine = MediaEngine::default();
    for (kind, payload_type, rtp_kind) in [
        (MediaKind::Audio, pts.opus, RtpCodecKind::Audio),
        (MediaKind::Video, pts.vp8, RtpCodecKind::Video),
    ] {
        engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: codec(kind),
                payload_type,
            },
            rtp_kind,
        )?;
    }
    // Not registered by default; without it browsers do not send levels.
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    Ok(engine)
}

/// The one codec of each kind the server negotiates (Opus, VP8).
pub(crate) fn codec(kind: MediaKind) -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    match kind {
        MediaKind::Audio => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        MediaKind::Video => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![
                feedback("nack", ""),
                feedback("nack", "pli"),
                feedback("ccm", "fir"),
            ],
        },
    }
}
