//! Configuration: raw flags and redis.conf lines in, one validated `Config` out.
//!
//! TODO(config helper): full flag set, redis.conf parsing, CONFIG GET/SET.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    Everysec,
    No,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub dir: PathBuf,
    pub databases: usize,
    pub requirepass: Option<String>,
    pub appendonly: bool,
    pub appendfsync: AppendFsync,
    pub replicaof: Option<(String, u16)>,
    pub maxclients: usize,
    /// Idle seconds before a client is closed; 0 = never.
    pub timeout: u64,
    pub loglevel: String,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub hz: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            dir: PathBuf::from("./data"),
            databases: 16,
            requirepass: None,
            appendonly: true,
            appendfsync: AppendFsync::Everysec,
            replicaof: None,
            maxclients: 10000,
            timeout: 0,
            loglevel: "notice".into(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hz: 10,
        }
    }
}
