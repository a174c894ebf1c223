//! What the embedded relay tells `/metrics`: allocations now, bytes relayed,
//! and requests refused by reason. Handles are made once, not per packet.

use metrics::{Counter, Gauge, counter, gauge};

/// Why the relay refused a request or dropped a packet.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// Wrong, expired, revoked or malformed credential.
    Credential,
    /// A peer other than the server's own media addresses.
    Peer,
    /// A session's allocations, or the relay's, are at their limit.
    Quota,
    /// Past a bandwidth limit (counted per dropped packet).
    Rate,
    /// Unauthenticated requests past their rate.
    Flood,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Credential => "credential",
            Refusal::Peer => "peer",
            Refusal::Quota => "quota",
            Refusal::Rate => "rate",
            Refusal::Flood => "flood",
        }
    }

    pub fn count(self) {
        counter!("circlekeeper_turn_refusals_total", "reason" => self.label()).increment(1);
    }
}

/// Per-allocation handles.
#[derive(Clone)]
pub struct Relayed {
    pub to_peer: Counter,
    pub from_peer: Counter,
    pub allocations: Gauge,
}

impl Relayed {
    pub fn new() -> Relayed {
        Relayed {
            to_peer: counter!("circlekeeper_turn_relayed_bytes_total", "direction" => "to_media"),
            from_peer: counter!("circlekeeper_turn_relayed_bytes_total", "direction" => "from_media"),
            allocations: gauge!("circlekeeper_turn_allocations"),
        }
    }
}
