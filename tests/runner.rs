//! The one test binary of the end-to-end crate: every `test_*.rs` is a module here, so that
//! linking happens once.

mod test_cli;
mod test_concurrency;
mod test_conformance;
mod test_corruption;
mod test_crash;
mod test_edges;
mod test_fuzz_corpus;
mod test_history;
mod test_hostile;
mod test_library;
mod test_migrate;
mod test_powerloss;
mod test_properties;
mod test_syscalls;
