//! The `rhizome` CLI, built inside this crate so the interop tests can run it as a
//! peer process (`listen` / `dial` speak the contract in `interop-tests/PEERS.md`).

fn main() -> std::process::ExitCode {
    rhizome_cli::main()
}
