//! The k-bucket routing table of `kademlia-routing-table` 1.0.6, as dht-rpc uses it.
//!
//! 256 rows; a node goes into row `i` = the number of leading bits its id shares with ours
//! (row 0 is the farthest half of the id space). Each row holds at most `k` nodes sorted by
//! id, so the whole table is bounded by `256 * k` entries. A full row refuses newcomers
//! ([`AddOutcome::RowFull`]); dht-rpc then pings the row's least recently pinged node and
//! swaps the newcomer in if that ping fails (see [`RoutingTable::least_recently_pinged`]).

use std::net::SocketAddrV4;

use crate::message::Id;

/// dht-rpc's bucket size and query width.
pub const K: usize = 20;
const ROWS: usize = 256;

/// One table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// BLAKE2b-256 of `addr` (see [`crate::peer::node_id`]).
    pub id: Id,
    /// The node's address.
    pub addr: SocketAddrV4,
    /// Tick at which it was added.
    pub added: u64,
    /// Tick of the last ping we sent it (or of its addition).
    pub pinged: u64,
    /// Tick at which we last heard from it.
    pub seen: u64,
}

/// What [`RoutingTable::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddOutcome {
    /// A new entry.
    Added,
    /// The id was present; the entry was replaced.
    Updated,
    /// The row is full; the row index is given so the caller can reping its oldest node.
    RowFull(usize),
    /// The id is our own.
    OwnId,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    id: Id,
    k: usize,
    rows: Vec<Vec<Node>>,
    size: usize,
}

impl RoutingTable {
    /// An empty table around `id` with bucket size `k` (dht-rpc: [`K`]).
    pub fn new(id: Id, k: usize) -> Self {
        Self { id, k: k.max(1), rows: vec![Vec::new(); ROWS], size: 0 }
    }

    /// Our table id.
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The row `id` belongs in: the number of leading bits shared with our id, or `None` for
    /// our own id (kademlia-routing-table files that under the last row; we refuse it).
    pub fn row_of(&self, id: &Id) -> Option<usize> {
        for (i, (a, b)) in id.iter().zip(self.id.iter()).enumerate() {
            if a != b {
                return Some(i * 8 + (a ^ b).leading_zeros() as usize);
            }
        }
        None
    }

    fn row_index(&self, id: &Id) -> usize {
        self.row_of(id).unwrap_or(ROWS - 1)
    }

    /// Inserts or replaces `node`, keeping its row sorted by id.
    pub fn add(&mut self, node: Node) -> AddOutcome {
        let Some(i) = self.row_of(&node.id) else {
            return AddOutcome::OwnId;
        };
        let row = &mut self.rows[i];
        match row.binary_search_by(|n| n.id.cmp(&node.id)) {
            Ok(j) => {
                row[j] = node;
                AddOutcome::Updated
            }
            Err(_) if row.len() >= self.k => AddOutcome::RowFull(i),
            Err(j) => {
                row.insert(j, node);
                self.size += 1;
                AddOutcome::Added
            }
        }
    }

    /// Removes the node with `id`; returns it if it was there.
    pub fn remove(&mut self, id: &Id) -> Option<Node> {
        let i = self.row_index(id);
        let row = &mut self.rows[i];
        let j = row.binary_search_by(|n| n.id.cmp(id)).ok()?;
        self.size -= 1;
        Some(row.remove(j))
    }

    /// The node with `id`.
    pub fn get(&self, id: &Id) -> Option<&Node> {
        let row = &self.rows[self.row_index(id)];
        row.binary_search_by(|n| n.id.cmp(id)).ok().map(|j| &row[j])
    }

    /// Mutable access to the node with `id`.
    pub fn get_mut(&mut self, id: &Id) -> Option<&mut Node> {
        let i = self.row_index(id);
        let row = &mut self.rows[i];
        row.binary_search_by(|n| n.id.cmp(id)).ok().map(move |j| &mut row[j])
    }

    /// Up to `k` nodes near `target`, in kademlia-routing-table's order: the target's row
    /// down to row 0, then the rows above it, each row in id order.
    pub fn closest(&self, target: &Id, k: usize) -> Vec<&Node> {
        let mut out = Vec::with_capacity(k.min(self.size));
        let d = self.row_index(target);
        for i in (0..=d).rev().chain(d + 1..ROWS) {
            if out.len() >= k {
                break;
            }
            let missing = (k - out.len()).min(self.rows[i].len());
            out.extend(self.rows[i][..missing].iter());
        }
        out
    }

    /// The least recently pinged node of row `row` (the one dht-rpc repings when the row is full).
    pub fn least_recently_pinged(&self, row: usize) -> Option<&Node> {
        self.rows.get(row)?.iter().min_by_key(|n| n.pinged)
    }

    /// All nodes, in `closest(own id)` order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.rows.iter().rev().flat_map(|r| r.iter())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::peer::node_id;

    fn node(i: u16) -> Node {
        let addr = SocketAddrV4::new([127, 0, 0, 1].into(), 10_000 + i);
        Node { id: node_id(addr), addr, added: 0, pinged: u64::from(i), seen: 0 }
    }

    #[test]
    fn rows_by_shared_prefix() {
        let t = RoutingTable::new([0; 32], K);
        let mut id = [0u8; 32];
        id[0] = 0x80;
        assert_eq!(t.row_of(&id), Some(0));
        id[0] = 0x01;
        assert_eq!(t.row_of(&id), Some(7));
        id[0] = 0;
        id[1] = 0x40;
        assert_eq!(t.row_of(&id), Some(9));
        assert_eq!(t.row_of(&[0; 32]), None);
    }

    #[test]
    fn rows_are_bounded_and_sorted() {
        let mut t = RoutingTable::new([0; 32], 3);
        let mut full = 0;
        for i in 0..200 {
            match t.add(node(i)) {
                AddOutcome::RowFull(_) => full += 1,
                AddOutcome::Added => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(full > 0);
        assert!(t.len() <= 3 * 8 + 10);
        for row in &t.rows {
            assert!(row.len() <= 3);
            assert!(row.windows(2).all(|w| w[0].id < w[1].id));
        }
        assert_eq!(t.add(node(0)), AddOutcome::Updated);
    }

    #[test]
    fn closest_returns_k_nearest_first() {
        let mut t = RoutingTable::new([0; 32], K);
        for i in 0..100 {
            t.add(node(i));
        }
        let target = node(7).id;
        let c = t.closest(&target, K);
        assert_eq!(c.len(), K);
        assert!(c.iter().any(|n| n.id == target), "the target's row comes first");
        assert!(t.remove(&target).is_some());
        assert!(t.get(&target).is_none());
        assert_eq!(t.closest(&target, 1000).len(), t.len());
    }
}
