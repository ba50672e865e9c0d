//! The admission hook: the application's say over which connections get in
//! (hyperswarm's `firewall`, iroh's `on_accepting`).

use std::sync::Arc;

use crate::Swarm;
use crate::connection::ConnectionInfo;

/// Decides whether a connection may be established: `true` lets it in.
///
/// Called once per connection, after the remote is authenticated and before the
/// connection is counted, reported or served (no handler ever sees a refused
/// connection). It runs on the connection's task and must not block.
pub type Admission = Arc<dyn Fn(&ConnectionInfo) -> bool + Send + Sync>;

impl Swarm {
    /// Sets (or with `None` removes) the admission hook. Connections already
    /// established are not affected.
    pub fn set_admission(&self, hook: Option<Admission>) {
        *self.shared.admission.write().unwrap_or_else(|e| e.into_inner()) = hook;
    }
}
