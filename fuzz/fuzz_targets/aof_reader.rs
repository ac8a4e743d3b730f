//! Arbitrary bytes as a log segment: the reader never panics. See ../check_aof_reader.rs.
#![no_main]

include!("../check_aof_reader.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_aof_reader(data);
});
