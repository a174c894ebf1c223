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

use crate::media::MediaKind;
use crate::media::testing::{PayloadTypes, media_engine_numbered};

/// Called with the stream id and kind of the remote track for every packet.
pub type OnPacket = Arc<dyn Fn(&str, MediaKind, &rtp::Packet) + Send + Sync>;

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
    let registry = crate::media::testing::interceptors(&mut engine).map_err(|e| e.to_string())?;
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

pub struct Receiver {
    /// Local ICE candidates, to trickle to the server.
    pub candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    pub on_packet: OnPacket,
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
        tokio::spawn(async move {
            let stream = track.stream_id().await;
            let kind = match track.kind().await {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            while let Some(ev) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(pkt) = ev {
                    on_packet(&stream, kind, &pkt);
                }
            }
        });
    }
}
