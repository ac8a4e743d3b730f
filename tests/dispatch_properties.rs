//! The dispatch fuzz target's properties (fuzz/check_dispatch.rs) on generated command
//! sequences: nothing panics, every reply is well-formed RESP, and the journal's records
//! replayed into a fresh server give the same dataset. `DISPATCH_TRACE=1` prints what a
//! failing case ran.

include!("../fuzz/check_dispatch.rs");

use roost::rand::Rng;

#[test]
fn dispatch_properties_hold_on_generated_sequences() {
    roost::log::set_level(roost::log::Level::Warning);
    // DISPATCH_CASES and DISPATCH_SEED run a longer or different search by hand.
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = Rng::with_seed(number("DISPATCH_SEED", 0xd15));
    for _ in 0..number("DISPATCH_CASES", 1000) {
        let len = 1 + rng.below(400);
        let data: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        check_dispatch(&data);
    }
}
