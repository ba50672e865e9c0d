//! `rhizome dial … --kad-find-node / --kad-put / --kad-get`, in the order given.

use anyhow::Context as _;
use rhizome::kad::{self, Kademlia, Quorum};
use rhizome::{Node, PeerId};
use serde_json::json;

use crate::output::Out;

/// One Kademlia step of `rhizome dial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `--kad-find-node PEERID`
    FindNode(String),
    /// `--kad-put KEY VALUE`
    Put(String, String),
    /// `--kad-get KEY`
    Get(String),
}

/// The Kademlia steps in the order they appear in `args` (the values come from clap,
/// which keeps each flag's values but not the order between flags).
pub fn ops_in_order(args: &[String], find: &[String], put: &[String], get: &[String]) -> Vec<Op> {
    let (mut f, mut p, mut g) = (find.iter(), put.chunks(2), get.iter());
    let mut ops = Vec::new();
    for arg in args {
        let flag = arg.split('=').next().unwrap_or_default();
        match flag {
            "--kad-find-node" => ops.extend(f.next().map(|v| Op::FindNode(v.clone()))),
            "--kad-put" => ops.extend(p.next().and_then(|kv| Some(Op::Put(kv.first()?.clone(), kv.get(1)?.clone())))),
            "--kad-get" => ops.extend(g.next().map(|v| Op::Get(v.clone()))),
            _ => {}
        }
    }
    ops
}

/// The bytes of a key given on the command line: UTF-8 as is, except `/pk/self`, the
/// binary key `/pk/` + our peer id.
fn key_bytes(key: &str, us: PeerId) -> Vec<u8> {
    if key == "/pk/self" {
        let mut k = b"/pk/".to_vec();
        k.extend(us.to_bytes());
        return k;
    }
    key.as_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `ops` through the DHT that `remote` (just dialed) belongs to.
pub async fn run(node: &Node, remote: PeerId, ops: &[Op], out: &Out) -> anyhow::Result<()> {
    let dht = Kademlia::start(node, kad::Config::default());
    dht.add_peer(remote, node.address_book().get(&remote));
    for op in ops {
        match op {
            Op::FindNode(id) => {
                let target: PeerId = id.parse().with_context(|| format!("--kad-find-node: not a peer id: {id}"))?;
                let addrs = match dht.find_node(target).await {
                    Ok(addrs) => addrs,
                    Err(e) => {
                        out.event("kad_find_node", json!({ "ok": false, "key": id, "peers": [], "error": format!("{e:#}") }));
                        return Err(e).with_context(|| format!("kad find_node {id}"));
                    }
                };
                let peers: Vec<_> = (!addrs.is_empty())
                    .then(|| json!({ "peer_id": id, "addrs": addrs.iter().map(ToString::to_string).collect::<Vec<_>>() }))
                    .into_iter()
                    .collect();
                out.event("kad_find_node", json!({ "ok": !peers.is_empty(), "key": id, "peers": peers }));
                anyhow::ensure!(!peers.is_empty(), "kad find_node {id}: not found");
            }
            Op::Put(key, value) => {
                let value = if key == "/pk/self" { node.public_key().encode_protobuf() } else { value.as_bytes().to_vec() };
                dht.put_value(key_bytes(key, node.id()), value, Quorum::One).await.with_context(|| format!("kad put {key}"))?;
                out.event("kad_put", json!({ "ok": true, "key": key }));
            }
            Op::Get(key) => match dht.get_value(key_bytes(key, node.id())).await {
                Ok(record) => out.event(
                    "kad_get",
                    json!({ "ok": true, "found": true, "key": key, "value": String::from_utf8_lossy(&record.value), "value_hex": hex(&record.value) }),
                ),
                Err(e) => {
                    out.event("kad_get", json!({ "ok": false, "found": false, "key": key, "error": format!("{e:#}") }));
                    return Err(e).with_context(|| format!("kad get {key}"));
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_keep_the_command_line_order() {
        let args: Vec<String> = ["dial", "/x", "--kad-get", "a", "--kad-put", "k", "v", "--kad-find-node=P", "--kad-get", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ops = ops_in_order(&args, &["P".into()], &["k".into(), "v".into()], &["a".into(), "b".into()]);
        assert_eq!(ops, vec![Op::Get("a".into()), Op::Put("k".into(), "v".into()), Op::FindNode("P".into()), Op::Get("b".into())]);
    }
}
