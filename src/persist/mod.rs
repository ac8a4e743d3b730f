//! Keeping the keyspace on disk while the server runs: the log writer thread
//! (`writer`), loading the log at startup (`load`), and rewrites that replace the log
//! with a snapshot (`rewrite`).
//!
//! This sits above the commands because loading replays records through them
//! (`cmd::apply`); the file format and layout it writes are `aof`'s, and the status the
//! commands report (INFO persistence, MISCONF) is `state::persistence`.

pub mod load;
pub mod rewrite;
pub mod writer;
