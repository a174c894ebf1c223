//! The media layer's own UDP addresses: what a TURN relay beside it may relay
//! to, and nothing else (an open relay would let anyone use the server to
//! reach any host, private networks included).

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use super::MediaConfig;

/// Whether an address is one of this server's media sockets.
pub struct OwnAddresses {
    ips: Vec<IpAddr>,
    config: MediaConfig,
    /// The workers' ports, read once the pool has started (they never change).
    worker_ports: OnceLock<Vec<u16>>,
}

impl OwnAddresses {
    /// The addresses of `config`: its bound address, or every interface's when
    /// it binds them all, and the announced public one.
    pub fn new(config: &MediaConfig) -> OwnAddresses {
        let mut ips: Vec<IpAddr> = if config.bind_ip.is_unspecified() {
            if_addrs::get_if_addrs()
                .map(|all| all.into_iter().map(|i| i.ip()).collect())
                .unwrap_or_default()
        } else {
            vec![config.bind_ip]
        };
        ips.extend(config.public_ip);
        ips.retain(|ip| !ip.is_unspecified() && !ip.is_multicast());
        ips.sort();
        ips.dedup();
        OwnAddresses {
            ips,
            config: config.clone(),
            worker_ports: OnceLock::new(),
        }
    }

    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.ips.contains(&addr.ip()) && self.port_is_ours(addr.port())
    }

    fn port_is_ours(&self, port: u16) -> bool {
        if let Some(ports) = self.worker_ports.get() {
            return ports.contains(&port);
        }
        match self.config.pool.running() {
            Some(pool) => self
                .worker_ports
                .get_or_init(|| pool.local_addrs().iter().map(|a| a.port()).collect())
                .contains(&port),
            // Not started yet: the configured ports, if fixed.
            None => {
                let first = usize::from(self.config.udp_port);
                first != 0
                    && (first..first + self.config.workers.max(1)).contains(&usize::from(port))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_media_ports_on_the_servers_addresses() {
        let config = MediaConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            public_ip: Some("203.0.113.7".parse().unwrap()),
            udp_port: 50_000,
            workers: 2,
            ..MediaConfig::default()
        };
        let own = OwnAddresses::new(&config);
        for ok in ["127.0.0.1:50000", "127.0.0.1:50001", "203.0.113.7:50001"] {
            assert!(own.contains(ok.parse().unwrap()), "{ok}");
        }
        for refused in [
            "127.0.0.1:50002",
            "127.0.0.1:22",
            "10.0.0.1:50000",
            "192.168.1.1:50000",
            "0.0.0.0:50000",
            "127.0.0.2:50000",
        ] {
            assert!(!own.contains(refused.parse().unwrap()), "{refused}");
        }
    }
}
