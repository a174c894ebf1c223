//! Synthetic media: an Opus-like and a VP8-like track and the RTP they send. Every
//! payload carries its send time, so receivers can measure latency.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::PeerConnection;

use super::{Counters, epoch};
use circlekeeper::media::testing::PayloadTypes;

/// Where the send time sits in every payload (after the VP8 descriptor and header).
const STAMP_AT: usize = 8;
/// Largest video payload per packet.
const MAX_VIDEO_PAYLOAD: usize = 1100;

/// Adds a receive-only audio and a receive-only video m-line to `pc`: what a
/// client that publishes nothing offers (docs/protocol.md: the client offers first).
pub async fn receive_only(pc: &Arc<dyn PeerConnection>) -> Result<(), String> {
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            streams: vec![],
            send_encodings: vec![],
        };
        pc.add_transceiver_from_kind(kind, Some(init))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Adds a send-only Opus track and a send-only VP8 track (random SSRCs) to `pc`.
pub async fn publishing_tracks(
    pc: &Arc<dyn PeerConnection>,
) -> Result<Vec<Arc<TrackLocalStaticRTP>>, String> {
    let mut tracks = Vec::new();
    for (kind, c) in [
        (RtpCodecKind::Audio, codec("audio/opus", 48_000, 2)),
        (RtpCodecKind::Video, codec("video/VP8", 90_000, 0)),
    ] {
        let t = local_track(kind, c, rand::random());
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            streams: vec![],
            send_encodings: vec![],
        };
        pc.add_transceiver_from_track(t.clone(), Some(init))
            .await
            .map_err(|e| e.to_string())?;
        tracks.push(t);
    }
    Ok(tracks)
}

/// The send time (µs since [`epoch`]) a payload carries, if it is long enough.
pub(super) fn sent_at(payload: &[u8]) -> Option<u64> {
    let stamp = payload.get(STAMP_AT..STAMP_AT + 8)?;
    Some(u64::from_be_bytes(stamp.try_into().ok()?))
}

/// Paced synthetic media: Opus-like audio every 20 ms with an audio level (RFC 6464,
/// -30 dBov, voice), a VP8-like video frame every 30 ms of `video_kbps`, split into
/// packets of at most 1100 bytes. Every payload carries its send time at `STAMP_AT`.
pub(super) async fn send_media(
    tracks: Vec<Arc<TrackLocalStaticRTP>>,
    counters: Arc<Counters>,
    video_kbps: u32,
    pts: PayloadTypes,
) {
    let (audio, video) = (Arc::clone(&tracks[0]), Arc::clone(&tracks[1]));
    let (a_ssrc, v_ssrc) = (audio.ssrcs().await[0], video.ssrcs().await[0]);
    // Keyframe requests come back on the video track; drain them so nothing backs up.
    let rtcp = tokio::spawn(async move { while video.poll().await.is_some() {} });
    let video = Arc::clone(&tracks[1]);
    let frame_bytes = (video_kbps as usize * 1000 / 8 * 30 / 1000).max(STAMP_AT + 8);
    let per_frame = frame_bytes.div_ceil(MAX_VIDEO_PAYLOAD);
    let packet_bytes = (frame_bytes / per_frame).max(STAMP_AT + 8);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut seq_a, mut seq_v, mut n) = (0u16, 0u16, 0u64);
    loop {
        tick.tick().await;
        n += 1;
        if n % 2 == 0 {
            let mut payload = vec![0xfc; 60];
            stamp(&mut payload);
            let pkt = packet(pts.opus, a_ssrc, seq_a, (n * 480) as u32, payload);
            seq_a = seq_a.wrapping_add(1);
            let level = HeaderExtension::AudioLevel(AudioLevelExtension {
                level: 30,
                voice: true,
            });
            if audio.write_rtp_with_extensions(pkt, &[level]).await.is_ok() {
                counters.sent_audio.fetch_add(1, Ordering::Relaxed);
            }
        }
        if n % 3 == 0 {
            for i in 0..per_frame {
                // VP8 payload descriptor (S bit on the first packet of a frame) + a
                // keyframe-like header, then the send time and filler.
                let mut payload = vec![if i == 0 { 0x10 } else { 0x00 }, 0x9d, 0x01, 0x2a];
                payload.resize(packet_bytes, 0x55);
                stamp(&mut payload);
                let mut pkt = packet(pts.vp8, v_ssrc, seq_v, (n * 900) as u32, payload);
                pkt.header.marker = i + 1 == per_frame;
                seq_v = seq_v.wrapping_add(1);
                if video.write_rtp(pkt).await.is_ok() {
                    counters.sent_video.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if rtcp.is_finished() {
            break;
        }
    }
}

/// Writes the current time (µs since [`epoch`]) into a payload.
fn stamp(payload: &mut [u8]) {
    let now = epoch().elapsed().as_micros() as u64;
    payload[STAMP_AT..STAMP_AT + 8].copy_from_slice(&now.to_be_bytes());
}

pub fn local_track(kind: RtpCodecKind, codec: RTCRtpCodec, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    let name = format!("{kind}");
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "client".into(),
        name.clone(),
        name,
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )))
}

pub fn codec(mime: &str, rate: u32, channels: u16) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: mime.into(),
        clock_rate: rate,
        channels,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

pub fn packet(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: Vec<u8>) -> rtp::Packet {
    rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: payload.into(),
    }
}
