//! `rhizome keygen` and `rhizome id`.

use anyhow::Context as _;
use rhizome::{Keypair, KeypairExt as _, PeerIdExt as _};
use serde_json::json;

use crate::args::KeyArgs;
use crate::output::Out;
use crate::peer;

pub fn keygen(out_path: &std::path::Path, force: bool, out: Out) -> anyhow::Result<()> {
    anyhow::ensure!(force || !out_path.exists(), "{} exists (use --force to overwrite)", out_path.display());
    let keypair = Keypair::generate().context("generating a key")?;
    keypair.save(out_path).with_context(|| format!("saving {}", out_path.display()))?;
    let id = keypair.peer_id().to_string();
    out.say(
        "keygen",
        &format!("wrote {} (peer id {id})", out_path.display()),
        json!({ "peer_id": id, "path": out_path.display().to_string() }),
    );
    Ok(())
}

/// Prints the peer id: bare text (easy to capture in scripts), or a JSON line with `--json`.
pub fn id(args: &KeyArgs, json: bool) -> anyhow::Result<()> {
    let id = peer::keypair(args)?.peer_id();
    if json {
        Out::json().event("id", json!({ "peer_id": id.to_string(), "cid": id.to_cid_string() }));
    } else {
        println!("{id}");
    }
    Ok(())
}
