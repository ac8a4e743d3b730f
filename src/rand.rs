//! A small, fast pseudo-random generator (SplitMix64) for RANDOMKEY, SPOP, SRANDMEMBER,
//! HRANDFIELD and the run id. Nothing here needs cryptographic strength.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

pub struct Rng(u64);

impl Rng {
    /// Seeded from the process's hash randomness and the clock.
    pub fn from_entropy() -> Rng {
        let seed = RandomState::new().hash_one(crate::clock::now_us());
        Rng(seed)
    }

    pub fn with_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// `n` random hex characters (run ids, replication ids).
pub fn random_hex(n: usize) -> String {
    let mut rng = Rng::from_entropy();
    (0..n)
        .map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap_or('0'))
        .collect()
}
