//! Keeping the keyspace on disk while the server runs: the log writer thread
//! (`writer`), loading the log at startup (`load`), and rewrites that replace the log
//! with a snapshot (`rewrite`).
//!
//! This sits above the commands because loading replays records through them
//! (`cmd::apply`); the file format and layout it writes are `aof`'s, and the status the
//! commands report (INFO persistence, MISCONF) is `state::persistence`.

pub mod load;
pub mod rewrite;
pub mod save;
pub mod writer;

use std::path::Path;

/// Makes sure the data directory exists and can be written (the log, the replication
/// id and rewrites go there), so a server that could not keep its data stops before it
/// listens, naming the directory and the reason.
pub fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    let unusable = |e: std::io::Error| {
        format!(
            "the data directory {} (dir) is not usable: {e}",
            dir.display()
        )
    };
    if dir.exists() && !dir.is_dir() {
        return Err(unusable(std::io::Error::other("it is not a directory")));
    }
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let probe = dir.join(format!(".roost-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(unusable)?;
    std::fs::remove_file(&probe).map_err(unusable)
}
