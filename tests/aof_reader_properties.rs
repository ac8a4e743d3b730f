//! The aof_reader fuzz target's properties (fuzz/check_aof_reader.rs) on generated
//! logs: valid ones, truncated ones and ones with damaged bytes.

include!("../fuzz/check_aof_reader.rs");

use roost::rand::Rng;

#[test]
fn reader_properties_hold_on_generated_logs() {
    let mut rng = Rng::with_seed(0xa0f);
    for round in 0..5_000 {
        let mut log = Vec::new();
        for lsn in 1..=1 + rng.below(6) as u64 {
            let args: Vec<Vec<u8>> = (0..1 + rng.below(4))
                .map(|_| (0..rng.below(30)).map(|_| rng.below(256) as u8).collect())
                .collect();
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            encode(lsn, &refs, &mut log);
        }
        match round % 3 {
            0 => log.truncate(rng.below(log.len() + 1)),
            1 => {
                let at = rng.below(log.len());
                log[at] = rng.below(256) as u8;
            }
            _ => {}
        }
        check_aof_reader(&log);
    }
}
