#![no_main]
//! Fuzz target: see `gitstate_tests::fuzz::repository` for the property checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gitstate_tests::fuzz::repository(data));
