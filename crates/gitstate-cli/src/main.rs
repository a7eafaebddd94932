//! The `gitstate` binary; see the library target for the command line.

fn main() -> std::process::ExitCode {
    gitstate_cli::main()
}
