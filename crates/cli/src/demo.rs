//! `rhizome demo`: placeholder replaced below.
use crate::output::Out;
pub async fn run(_out: Out) -> anyhow::Result<()> {
    Ok(())
}
