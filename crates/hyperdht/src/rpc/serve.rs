//! Answering requests: token check, internal commands, replies (dht-rpc `index.js`
//! `_onrequest` and `io.js` `_sendReply`).

use std::net::SocketAddrV4;
use std::time::Instant;

use super::{Event, Purpose, Rpc, Transmit};
use crate::message::{Request, Response, command, error_code};

impl Rpc {
    /// Answers `req` from `to` as dht-rpc does: with `token` a fresh write token for `to`,
    /// with `closer` the k closest nodes to the request's target we know.
    pub fn respond(&mut self, to: SocketAddrV4, req: &Request, error: u64, value: Option<Vec<u8>>, token: bool, closer: bool) {
        let closer_nodes = match (&req.target, closer) {
            (Some(t), true) => self.table.closest(t, self.config.k).iter().map(|n| n.addr).collect(),
            _ => Vec::new(),
        };
        let res = Response {
            tid: req.tid,
            to,
            id: self.send_id(),
            token: token.then(|| self.secrets.issue(*to.ip())),
            closer_nodes,
            error,
            value,
        };
        self.push_transmit(Transmit { to, bytes: res.encode() });
    }

    fn reply(&mut self, to: SocketAddrV4, req: &Request, error: u64, token: bool, closer: bool) {
        self.respond(to, req, error, None, token, closer);
    }

    pub(super) fn on_request(&mut self, now: Instant, from: SocketAddrV4, req: Request) {
        self.learn(now, from, req.id);
        if let Some(t) = &req.token
            && !self.secrets.verify(*from.ip(), t)
        {
            self.reply(from, &req, error_code::INVALID_TOKEN, true, true);
            return;
        }
        if !req.internal {
            // the caller answers (or ignores) it through `respond`
            self.push_event(Event::Request { from, request: req });
            return;
        }
        match req.command {
            command::PING => self.reply(from, &req, 0, false, false),
            command::PING_NAT => {
                let Some(v) = req.value.as_deref().filter(|v| v.len() >= 2) else { return };
                let port = u16::from_le_bytes([v[0], v[1]]);
                if port != 0 {
                    self.reply(SocketAddrV4::new(*from.ip(), port), &req, 0, false, false);
                }
            }
            command::FIND_NODE => {
                if req.target.is_some() {
                    self.reply(from, &req, 0, false, true);
                }
            }
            command::DOWN_HINT => {
                let Some(v) = req.value.as_deref().filter(|v| v.len() >= 6) else { return };
                let id = crate::peer::blake2b_256(&v[..6]);
                if let Some(n) = self.table.get(&id) {
                    let addr = n.addr;
                    let retries = self.config.retries;
                    let _ = self.send_request(now, addr, true, command::PING, None, None, None, retries, Purpose::Silent);
                }
                self.reply(from, &req, 0, false, false);
            }
            command::DELAYED_PING => self.delayed_ping(now, from, req),
            _ => self.reply(from, &req, error_code::UNKNOWN_COMMAND, false, req.target.is_some()),
        }
    }
}
