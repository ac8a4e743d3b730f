//! The fuzz target's properties (fuzz/check_decoder.rs) on generated inputs, so every
//! test run exercises them without cargo-fuzz: valid requests, mutated requests, inline
//! lines and random bytes, split at arbitrary points.

include!("../fuzz/check_decoder.rs");

use roost::rand::Rng;

fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let argc = 1 + rng.below(6);
    let mut out = format!("*{argc}\r\n").into_bytes();
    for _ in 0..argc {
        let len = rng.below(40);
        let arg: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        out.extend(format!("${len}\r\n").into_bytes());
        out.extend(arg);
        out.extend(b"\r\n");
    }
    out
}

#[test]
fn decoder_properties_hold_on_generated_inputs() {
    let mut rng = Rng::with_seed(0x5eed);
    for round in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 | 1 => input.extend(valid_request(&mut rng)),
                2 => input.extend(b"SET k \"v w\"\r\nPING\n"),
                _ => input.extend((0..rng.below(64)).map(|_| rng.below(256) as u8)),
            }
        }
        // Corrupt some inputs in one place.
        if round % 3 == 0 && !input.is_empty() {
            let at = rng.below(input.len());
            input[at] = rng.below(256) as u8;
        }
        check_decoder(&input);
    }
}
