//! The `gitstate` CLI, built inside the test crate.

fn main() -> std::process::ExitCode {
    gitstate_cli::main()
}
