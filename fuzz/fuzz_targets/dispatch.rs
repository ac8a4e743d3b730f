#![no_main]

include!("../check_dispatch.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check_dispatch(data));
