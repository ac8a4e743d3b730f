//! Arbitrary bytes, split arbitrarily, into the request decoder. See ../check_decoder.rs.
#![no_main]

include!("../check_decoder.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_decoder(data);
});
