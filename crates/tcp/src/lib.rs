//! TCP transport for Rhizome, on tokio.
//!
//! Addresses: `/ip4/<a>/tcp/<port>`, `/ip6/<a>/tcp/<port>`, and `/dns/<name>/tcp/<port>`,
//! `/dns4/…`, `/dns6/…` (resolved with the system resolver; `dns4` keeps IPv4
//! results, `dns6` IPv6), each optionally followed by `/p2p/<peer id>`.
//! `TCP_NODELAY` is set on every connection (libp2p traffic is request/response
//! heavy). Listening sockets use `SO_REUSEADDR` and a backlog of
//! [`Config::backlog`] (default 1024).
#![deny(missing_docs)]

use std::net::{IpAddr, SocketAddr};

use rhizome_core::multiaddr::Protocol;
use rhizome_core::{Listener, Multiaddr, RawConn, Transport, TransportError};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// TCP settings (`tcp::Config`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Set `TCP_NODELAY` (default true).
    pub nodelay: bool,
    /// Listen backlog (default 1024).
    pub backlog: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { nodelay: true, backlog: 1024 }
    }
}

/// The TCP transport.
#[derive(Debug, Clone, Default)]
pub struct TcpTransport {
    config: Config,
}

impl TcpTransport {
    /// A transport with these settings.
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

enum Host {
    Ip(IpAddr),
    Dns { name: String, family: Option<Family> },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// Splits `addr` into host and port; `None` if it is not a TCP address.
fn parse(addr: &Multiaddr) -> Option<(Host, u16)> {
    let mut iter = addr.iter();
    let host = match iter.next()? {
        Protocol::Ip4(ip) => Host::Ip(ip.into()),
        Protocol::Ip6(ip) => Host::Ip(ip.into()),
        Protocol::Dns(name) => Host::Dns { name: name.to_string(), family: None },
        Protocol::Dns4(name) => Host::Dns { name: name.to_string(), family: Some(Family::V4) },
        Protocol::Dns6(name) => Host::Dns { name: name.to_string(), family: Some(Family::V6) },
        _ => return None,
    };
    let Protocol::Tcp(port) = iter.next()? else {
        return None;
    };
    match iter.next() {
        None | Some(Protocol::P2p(_)) => {}
        _ => return None,
    }
    if iter.next().is_some() {
        return None;
    }
    Some((host, port))
}

/// The multiaddr of a socket address: `/ip4|ip6/<ip>/tcp/<port>`.
pub fn socket_to_multiaddr(sa: SocketAddr) -> Multiaddr {
    let ip = match sa.ip() {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(sa.port()))
}

async fn resolve(addr: &Multiaddr, host: Host, port: u16) -> Result<Vec<SocketAddr>, TransportError> {
    match host {
        Host::Ip(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        Host::Dns { name, family } => {
            let found = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|source| TransportError::Resolve { addr: addr.clone(), source })?;
            let list: Vec<SocketAddr> = found
                .filter(|sa| match family {
                    Some(Family::V4) => sa.is_ipv4(),
                    Some(Family::V6) => sa.is_ipv6(),
                    None => true,
                })
                .collect();
            if list.is_empty() {
                return Err(TransportError::Resolve { addr: addr.clone(), source: std::io::ErrorKind::NotFound.into() });
            }
            Ok(list)
        }
    }
}

#[async_trait::async_trait]
impl Transport for TcpTransport {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn supports(&self, addr: &Multiaddr) -> bool {
        parse(addr).is_some()
    }

    async fn dial(&self, addr: &Multiaddr) -> Result<RawConn, TransportError> {
        let (host, port) = parse(addr).ok_or_else(|| TransportError::Unsupported(addr.clone()))?;
        let mut last_err = None;
        for sa in resolve(addr, host, port).await? {
            match TcpStream::connect(sa).await {
                Ok(stream) => return self.wrap(stream),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last_err = Some(TransportError::Refused(socket_to_multiaddr(sa)))
                }
                Err(e) => last_err = Some(TransportError::Io(e)),
            }
        }
        Err(last_err.unwrap_or_else(|| TransportError::Unsupported(addr.clone())))
    }

    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn Listener>, TransportError> {
        let (host, port) = parse(addr).ok_or_else(|| TransportError::Unsupported(addr.clone()))?;
        let Host::Ip(ip) = host else {
            return Err(TransportError::Unsupported(addr.clone()));
        };
        let sa = SocketAddr::new(ip, port);
        let socket = if sa.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(sa).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => TransportError::AddrInUse(addr.clone()),
            _ => TransportError::Io(e),
        })?;
        let listener = socket.listen(self.config.backlog)?;
        let local = socket_to_multiaddr(listener.local_addr()?);
        Ok(Box::new(TcpListenerImpl { listener, local, nodelay: self.config.nodelay }))
    }
}

impl TcpTransport {
    fn wrap(&self, stream: TcpStream) -> Result<RawConn, TransportError> {
        stream.set_nodelay(self.config.nodelay)?;
        let local_addr = socket_to_multiaddr(stream.local_addr()?);
        let remote_addr = socket_to_multiaddr(stream.peer_addr()?);
        Ok(RawConn { io: Box::new(stream), local_addr, remote_addr })
    }
}

struct TcpListenerImpl {
    listener: TcpListener,
    local: Multiaddr,
    nodelay: bool,
}

#[async_trait::async_trait]
impl Listener for TcpListenerImpl {
    fn local_addr(&self) -> Multiaddr {
        self.local.clone()
    }

    async fn accept(&mut self) -> Result<RawConn, TransportError> {
        let (stream, remote) = self.listener.accept().await?;
        stream.set_nodelay(self.nodelay)?;
        let local_addr = socket_to_multiaddr(stream.local_addr()?);
        Ok(RawConn { io: Box::new(stream), local_addr, remote_addr: socket_to_multiaddr(remote) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn supported_addresses() {
        let t = TcpTransport::default();
        for ok in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip6/::1/tcp/1",
            "/dns4/localhost/tcp/1",
            "/dns/localhost/tcp/1",
            "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5",
        ] {
            assert!(t.supports(&ma(ok)), "{ok}");
        }
        for bad in ["/ip4/127.0.0.1/udp/1", "/ip4/127.0.0.1", "/memory/5", "/ip4/127.0.0.1/tcp/1/ws"] {
            assert!(!t.supports(&ma(bad)), "{bad}");
        }
    }

    async fn round_trip(listen: &str) {
        let t = TcpTransport::default();
        let mut l = t.listen(&ma(listen)).await.unwrap();
        let addr = l.local_addr();
        let dialer = tokio::spawn(async move {
            let mut c = TcpTransport::default().dial(&addr).await.unwrap();
            c.io.write_all(b"hello").await.unwrap();
            c.local_addr
        });
        let mut s = l.accept().await.unwrap();
        let mut buf = [0u8; 5];
        s.io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(dialer.await.unwrap(), s.remote_addr);
    }

    #[tokio::test]
    async fn ipv4_loopback() {
        tokio::time::timeout(std::time::Duration::from_secs(10), round_trip("/ip4/127.0.0.1/tcp/0")).await.unwrap();
    }

    #[tokio::test]
    async fn ipv6_loopback() {
        // Some CI sandboxes have no ::1; skip only when binding it is impossible.
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; skipping");
            return;
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), round_trip("/ip6/::1/tcp/0")).await.unwrap();
    }

    #[tokio::test]
    async fn dns4_localhost_and_refused() {
        let t = TcpTransport::default();
        let l = t.listen(&ma("/ip4/127.0.0.1/tcp/0")).await.unwrap();
        let port = match l.local_addr().iter().nth(1) {
            Some(Protocol::Tcp(p)) => p,
            _ => unreachable!(),
        };
        let c = t.dial(&ma(&format!("/dns4/localhost/tcp/{port}"))).await.unwrap();
        assert!(c.remote_addr.to_string().starts_with("/ip4/127.0.0.1/tcp/"));
        drop(l);
        let err = t.dial(&ma(&format!("/ip4/127.0.0.1/tcp/{port}"))).await.unwrap_err();
        assert!(matches!(err, TransportError::Refused(_)), "{err:?}");
    }
}
