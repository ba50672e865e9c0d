//! The `rhizome` command.

fn main() -> std::process::ExitCode {
    rhizome_cli::main()
}
