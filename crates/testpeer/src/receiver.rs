//! A client peer connection on loopback, with the server's codecs and interceptors,
//! whose handler hands local candidates to the signalling side and every received
//! RTP packet to a callback.

use std::sync::Arc;

use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfiguration,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
};

use circlekeeper::media::MediaKind;
use circlekeeper::media::testing::{KeyframeRequests, PayloadTypes, media_engine_numbered};
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::RTCPFeedback;

/// Called with the stream id and kind of the remote track for every packet.
pub type OnPacket = Arc<dyn Fn(&str, MediaKind, &rtp::Packet) + Send + Sync>;
/// Called once per remote track, with its stream id and kind: a test that sends
/// feedback (RTCP) about what it received keeps the track.
pub type OnTrack = Arc<dyn Fn(&str, MediaKind, Arc<dyn TrackRemote>) + Send + Sync>;

/// Builds a peer connection on 127.0.0.1 handled by `receiver`, numbering the codecs
/// as `pts` says.
pub async fn client_peer_connection(
    receiver: Receiver,
    pts: PayloadTypes,
) -> Result<Arc<dyn PeerConnection>, String> {
    client_peer_connection_with(receiver, pts, RTCConfigurationBuilder::new().build()).await
}

/// [`client_peer_connection`] with ICE servers and a transport policy (TURN).
pub async fn client_peer_connection_with(
    receiver: Receiver,
    pts: PayloadTypes,
    configuration: RTCConfiguration,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut engine = media_engine_numbered(pts).map_err(|e| e.to_string())?;
    let registry = interceptors(&mut engine).map_err(|e| e.to_string())?;
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(receiver))
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(pc))
}

/// Packets kept per sent stream to answer NACKs (webrtc-rs keeps 1024, in a table
/// filled in advance: a load run with many peers would spend its memory there).
pub const NACK_HISTORY: u16 = 256;

/// The default interceptors of webrtc-rs (`register_default_interceptors`: NACK,
/// simulcast header extensions, TWCC receiver, RTCP reports) with a shorter NACK
/// history, plus the server's [`KeyframeRequests`] after them, so a publishing
/// client sees the keyframe requests the server forwards.
pub fn interceptors(engine: &mut MediaEngine) -> Result<Registry, rtc::shared::error::Error> {
    for parameter in ["", "pli"] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(NACK_HISTORY).build(),
        )
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    configure_simulcast_extension_headers(engine)?;
    let registry = configure_twcc_receiver_only(registry, engine)?;
    let registry = configure_rtcp_reports(registry);
    Ok(registry.with(Slot::from(14_000), KeyframeRequests::default()))
}

pub struct Receiver {
    /// Local ICE candidates, to trickle to the server.
    pub candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    pub on_packet: OnPacket,
    pub on_track: Option<OnTrack>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Receiver {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(c) = event.candidate.to_json() {
            let _ = self.candidates.send(c);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let on_packet = Arc::clone(&self.on_packet);
        let on_track = self.on_track.clone();
        tokio::spawn(async move {
            let stream = track.stream_id().await;
            let kind = match track.kind().await {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            if let Some(on_track) = on_track {
                on_track(&stream, kind, Arc::clone(&track));
            }
            while let Some(ev) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(pkt) = ev {
                    on_packet(&stream, kind, &pkt);
                }
            }
        });
    }
}
