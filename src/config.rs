//! Configuration: raw flags and redis.conf lines in, one validated `Config` out.
//!
//! Every source of configuration goes through one function, `Config::apply(name, value)`:
//! lines of a redis.conf file, command-line flags (which clap only collects), and
//! CONFIG SET at run time. So a value is validated the same way wherever it comes from,
//! and CONFIG GET prints it back the way Redis would.
//!
//! Redis 7 directives that Roost does not implement are accepted with one warning each
//! (a user's existing redis.conf must start Roost); a directive Redis does not know, or
//! a bad value, is an error that names it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::Parser;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    Everysec,
    No,
}

impl AppendFsync {
    fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

/// Redis's eviction policies; only the name matters until eviction exists.
const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];

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
    pub masterauth: Option<String>,
    pub masteruser: Option<String>,
    pub maxclients: usize,
    /// Idle seconds before a client is closed; 0 = never.
    pub timeout: u64,
    pub loglevel: String,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub hz: u32,
    pub notify_keyspace_events: String,
    pub repl_backlog_size: u64,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub replica_priority: u64,
    pub replica_announced: bool,
    /// Seconds without news from the other side before a replication link is dropped.
    pub repl_timeout: u64,
    /// `client-output-buffer-limit` for the classes normal, replica, pubsub.
    pub output_limits: [OutputLimit; 3],
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    /// Start even if the log has a bad record before its end, keeping the good prefix.
    pub aof_repair: bool,
    /// The config file given at startup, for CONFIG REWRITE.
    pub config_file: Option<PathBuf>,
    /// Redis directives accepted but not implemented, as given (CONFIG GET shows them).
    pub ignored: BTreeMap<String, String>,
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
            masterauth: None,
            masteruser: None,
            maxclients: 10000,
            timeout: 0,
            loglevel: "notice".into(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hz: 10,
            notify_keyspace_events: String::new(),
            repl_backlog_size: 1024 * 1024,
            replica_read_only: true,
            replica_serve_stale_data: true,
            replica_priority: 100,
            replica_announced: true,
            repl_timeout: 60,
            output_limits: [
                OutputLimit::default(),
                OutputLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_seconds: 60,
                },
                OutputLimit {
                    hard: 32 << 20,
                    soft: 8 << 20,
                    soft_seconds: 60,
                },
            ],
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            aof_repair: false,
            config_file: None,
            ignored: BTreeMap::new(),
        }
    }
}

/// One class of `client-output-buffer-limit`: a connection whose pending output passes
/// `hard` bytes, or stays over `soft` for `soft_seconds`, is closed. 0 = no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// Index of a class in `Config::output_limits`.
pub const OUTPUT_NORMAL: usize = 0;
pub const OUTPUT_REPLICA: usize = 1;
pub const OUTPUT_PUBSUB: usize = 2;

/// A configuration problem, naming the directive (and file:line for files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub directive: String,
    pub message: String,
    pub location: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "'{}': {}", self.directive, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// What `apply` did with a directive.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Set,
    /// A Redis directive Roost accepts but does not implement.
    Ignored,
}

/// Why a value could not be applied; the text follows Redis's wording.
#[derive(Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// Redis does not know this directive.
    Unknown,
    Invalid(String),
    /// Cannot change while running.
    Immutable,
}

/// Parameters Roost implements, with whether CONFIG SET may change them.
const PARAMS: &[(&str, bool)] = &[
    ("port", false),
    ("bind", false),
    ("dir", false),
    ("databases", false),
    ("requirepass", true),
    // Switching the log on or off at run time needs a rewrite Roost does not do yet.
    ("appendonly", false),
    ("appendfsync", true),
    ("replicaof", false),
    ("masterauth", true),
    ("masteruser", true),
    ("maxclients", true),
    ("timeout", true),
    ("loglevel", true),
    ("maxmemory", true),
    ("maxmemory-policy", true),
    ("proto-max-bulk-len", true),
    ("client-query-buffer-limit", true),
    ("hz", true),
    ("notify-keyspace-events", true),
    ("repl-backlog-size", true),
    ("replica-read-only", true),
    ("replica-serve-stale-data", true),
    ("replica-priority", true),
    ("replica-announced", true),
    ("repl-timeout", true),
    ("client-output-buffer-limit", true),
    ("auto-aof-rewrite-percentage", true),
    ("auto-aof-rewrite-min-size", true),
];

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.into()
}

/// Old names Redis still accepts.
fn canonical(name: &str) -> &str {
    match name {
        "slaveof" => "replicaof",
        "slave-serve-stale-data" => "replica-serve-stale-data",
        "slave-read-only" => "replica-read-only",
        "slave-priority" => "replica-priority",
        "slave-announce-ip" => "replica-announce-ip",
        "slave-announce-port" => "replica-announce-port",
        "slave-lazy-flush" => "replica-lazy-flush",
        "slave-ignore-maxmemory" => "replica-ignore-maxmemory",
        "min-slaves-to-write" => "min-replicas-to-write",
        "min-slaves-max-lag" => "min-replicas-max-lag",
        "repl-ping-slave-period" => "repl-ping-replica-period",
        "hash-max-ziplist-entries" => "hash-max-listpack-entries",
        "hash-max-ziplist-value" => "hash-max-listpack-value",
        "zset-max-ziplist-entries" => "zset-max-listpack-entries",
        "zset-max-ziplist-value" => "zset-max-listpack-value",
        "list-max-ziplist-size" => "list-max-listpack-size",
        other => other,
    }
}

/// Redis 7 directives Roost accepts without implementing them.
const REDIS_ONLY: &[&str] = &[
    "acl-pubsub-default",
    "aclfile",
    "acllog-max-len",
    "active-defrag-cycle-max",
    "active-defrag-cycle-min",
    "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "active-expire-effort",
    "activedefrag",
    "activerehashing",
    "always-show-logo",
    "aof-disable-auto-gc",
    "aof-load-truncated",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "aof_rewrite_cpulist",
    "appenddirname",
    "appendfilename",
    "bgsave_cpulist",
    "bind-source-addr",
    "bio_cpulist",
    "busy-reply-threshold",
    "cluster-allow-pubsubshard-when-down",
    "cluster-allow-reads-when-down",
    "cluster-allow-replica-migration",
    "cluster-announce-bus-port",
    "cluster-announce-hostname",
    "cluster-announce-ip",
    "cluster-announce-port",
    "cluster-announce-tls-port",
    "cluster-config-file",
    "cluster-enabled",
    "cluster-link-sendbuf-limit",
    "cluster-migration-barrier",
    "cluster-node-timeout",
    "cluster-port",
    "cluster-preferred-endpoint-type",
    "cluster-replica-no-failover",
    "cluster-replica-validity-factor",
    "cluster-require-full-coverage",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "daemonize",
    "dbfilename",
    "disable-thp",
    "dynamic-hz",
    "enable-debug-command",
    "enable-module-command",
    "enable-protected-configs",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hll-sparse-max-bytes",
    "ignore-warnings",
    "include",
    "io-threads",
    "io-threads-do-reads",
    "jemalloc-bg-thread",
    "key-load-delay",
    "latency-monitor-threshold",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-compress-depth",
    "list-max-listpack-size",
    "loadmodule",
    "locale-collate",
    "logfile",
    "lua-time-limit",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "maxmemory-samples",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "no-appendfsync-on-rewrite",
    "oom-score-adj",
    "oom-score-adj-values",
    "pidfile",
    "proc-title-template",
    "propagation-error-behavior",
    "protected-mode",
    "rdb-del-sync-files",
    "rdb-key-save-delay",
    "rdb-save-incremental-fsync",
    "rdbchecksum",
    "rdbcompression",
    "rename-command",
    "repl-backlog-ttl",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "replica-announce-ip",
    "replica-announce-port",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "sanitize-dump-payload",
    "save",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "set-proc-title",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "shutdown-timeout",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "stop-writes-on-bgsave-error",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "supervised",
    "syslog-enabled",
    "syslog-facility",
    "syslog-ident",
    "tcp-backlog",
    "tcp-keepalive",
    "tls-auth-clients",
    "tls-ca-cert-dir",
    "tls-ca-cert-file",
    "tls-cert-file",
    "tls-ciphers",
    "tls-ciphersuites",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
    "tls-cluster",
    "tls-dh-params-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-port",
    "tls-prefer-server-ciphers",
    "tls-protocols",
    "tls-replication",
    "tls-session-cache-size",
    "tls-session-cache-timeout",
    "tls-session-caching",
    "tracking-table-max-keys",
    "unixsocket",
    "unixsocketperm",
    "use-exit-on-panic",
    "user",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
];

/// Redis's `memtoull`: a byte count with an optional unit (`k` = 1000, `kb` = 1024, `m`,
/// `mb`, `g`, `gb`), case-insensitive.
pub fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(multiplier)
}

fn parse_bool(value: &str) -> Result<bool, ApplyError> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(ApplyError::Invalid("argument must be 'yes' or 'no'".into())),
    }
}

fn parse_number<T: std::str::FromStr>(value: &str) -> Result<T, ApplyError> {
    value
        .parse::<T>()
        .map_err(|_| ApplyError::Invalid("argument couldn't be parsed into an integer".into()))
}

fn parse_bytes(value: &str) -> Result<u64, ApplyError> {
    parse_memory(value).ok_or_else(|| ApplyError::Invalid("argument must be a memory value".into()))
}

/// notify-keyspace-events as Redis prints its flags back: "A" when every class it
/// stands for is on (and then no `n`), else the classes in a fixed order; then K, E, m.
fn keyspace_events_text(value: &str) -> String {
    const ALL: &str = "g$lshzxetd";
    let on = |c: char| value.contains(c) || (value.contains('A') && ALL.contains(c));
    let mut text = String::new();
    if ALL.chars().all(on) {
        text.push('A');
    } else {
        text.extend(ALL.chars().chain(['n']).filter(|&c| on(c)));
    }
    text.extend("KEm".chars().filter(|&c| on(c)));
    text
}

fn one_of(value: &str, choices: &[&str]) -> Result<String, ApplyError> {
    let lower = value.to_ascii_lowercase();
    if choices.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(ApplyError::Invalid(
            "argument(s) must be one of the following: ".to_string() + &choices.join(", "),
        ))
    }
}

impl Config {
    /// Sets one directive from its text form, validating it. `args` are the directive's
    /// arguments (most take one; `bind` and `replicaof` take several).
    pub fn apply(&mut self, name: &str, args: &[String]) -> Result<Applied, ApplyError> {
        let name = name.to_ascii_lowercase();
        let name = canonical(&name);
        let value = args.join(" ");
        let one = || -> Result<&str, ApplyError> {
            match args {
                [v] => Ok(v.as_str()),
                _ => Err(ApplyError::Invalid("wrong number of arguments".into())),
            }
        };
        match name {
            "port" => {
                let port: u32 = parse_number(one()?)?;
                self.port = u16::try_from(port).map_err(|_| {
                    ApplyError::Invalid("argument must be between 0 and 65535 inclusive".into())
                })?;
            }
            "bind" => {
                if args.is_empty() {
                    return Err(ApplyError::Invalid("wrong number of arguments".into()));
                }
                self.bind = args
                    .iter()
                    .flat_map(|a| a.split_whitespace().map(str::to_string))
                    .collect();
            }
            "dir" => self.dir = PathBuf::from(one()?),
            "databases" => {
                let n: usize = parse_number(one()?)?;
                if !(1..=i32::MAX as usize).contains(&n) {
                    return Err(ApplyError::Invalid(
                        "argument must be between 1 and 2147483647 inclusive".into(),
                    ));
                }
                self.databases = n;
            }
            "requirepass" => {
                let v = one()?;
                self.requirepass = (!v.is_empty()).then(|| v.to_string());
            }
            "masterauth" => {
                let v = one()?;
                self.masterauth = (!v.is_empty()).then(|| v.to_string());
            }
            "masteruser" => {
                let v = one()?;
                self.masteruser = (!v.is_empty()).then(|| v.to_string());
            }
            "appendonly" => self.appendonly = parse_bool(one()?)?,
            "appendfsync" => {
                self.appendfsync = match one_of(one()?, &["everysec", "always", "no"])?.as_str() {
                    "always" => AppendFsync::Always,
                    "everysec" => AppendFsync::Everysec,
                    _ => AppendFsync::No,
                }
            }
            "replicaof" => {
                let parts: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
                self.replicaof = match parts.as_slice() {
                    [] => None,
                    [no, one]
                        if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") =>
                    {
                        None
                    }
                    [host, port] => {
                        let port: u16 = port
                            .parse()
                            .map_err(|_| ApplyError::Invalid("Invalid master port".into()))?;
                        Some((host.to_string(), port))
                    }
                    _ => return Err(ApplyError::Invalid("expected \"HOST PORT\"".into())),
                };
            }
            "maxclients" => {
                let n: usize = parse_number(one()?)?;
                if n < 1 {
                    return Err(ApplyError::Invalid(
                        "argument must be between 1 and 4294967295 inclusive".into(),
                    ));
                }
                self.maxclients = n;
            }
            "timeout" => {
                let n: i64 = parse_number(one()?)?;
                if !(0..=i32::MAX as i64).contains(&n) {
                    return Err(ApplyError::Invalid(
                        "argument must be between 0 and 2147483647 inclusive".into(),
                    ));
                }
                self.timeout = n as u64;
            }
            "loglevel" => self.loglevel = one_of(one()?, LOGLEVELS)?,
            "maxmemory" => self.maxmemory = parse_bytes(one()?)?,
            "maxmemory-policy" => self.maxmemory_policy = one_of(one()?, MAXMEMORY_POLICIES)?,
            "proto-max-bulk-len" => {
                let n = parse_bytes(one()?)?;
                if n < 1024 * 1024 {
                    return Err(ApplyError::Invalid(
                        "argument must be between 1048576 and 9223372036854775807 inclusive".into(),
                    ));
                }
                self.proto_max_bulk_len = n;
            }
            "client-query-buffer-limit" => {
                let n = parse_bytes(one()?)?;
                if n < 1024 * 1024 {
                    return Err(ApplyError::Invalid(
                        "argument must be between 1048576 and 9223372036854775807 inclusive".into(),
                    ));
                }
                self.client_query_buffer_limit = n;
            }
            "hz" => {
                let n: i64 = parse_number(one()?)?;
                // Redis clamps hz into 1..=500.
                self.hz = n.clamp(1, 500) as u32;
            }
            "notify-keyspace-events" => {
                let v = one()?;
                if !v.chars().all(|c| "KEg$lshzxetmdnA".contains(c)) {
                    return Err(ApplyError::Invalid(
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into(),
                    ));
                }
                self.notify_keyspace_events = v.to_string();
            }
            "repl-backlog-size" => {
                let n = parse_bytes(one()?)?;
                if n < 1 {
                    return Err(ApplyError::Invalid(
                        "argument must be between 1 and 9223372036854775807 inclusive".into(),
                    ));
                }
                self.repl_backlog_size = n;
            }
            "replica-read-only" => self.replica_read_only = parse_bool(one()?)?,
            "replica-serve-stale-data" => self.replica_serve_stale_data = parse_bool(one()?)?,
            "replica-announced" => self.replica_announced = parse_bool(one()?)?,
            "replica-priority" => {
                let n: i64 = parse_number(one()?)?;
                if !(0..=i32::MAX as i64).contains(&n) {
                    return Err(ApplyError::Invalid(
                        "argument must be between 0 and 2147483647 inclusive".into(),
                    ));
                }
                self.replica_priority = n as u64;
            }
            "repl-timeout" => {
                let n: i64 = parse_number(one()?)?;
                if !(1..=i32::MAX as i64).contains(&n) {
                    return Err(ApplyError::Invalid(
                        "argument must be between 1 and 2147483647 inclusive".into(),
                    ));
                }
                self.repl_timeout = n as u64;
            }
            "client-output-buffer-limit" => {
                let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
                if words.is_empty() || words.len() % 4 != 0 {
                    return Err(ApplyError::Invalid(
                        "Wrong number of arguments in buffer limit configuration.".into(),
                    ));
                }
                let mut limits = self.output_limits;
                for class in words.chunks(4) {
                    let index = match class[0].to_ascii_lowercase().as_str() {
                        "normal" => OUTPUT_NORMAL,
                        "replica" | "slave" => OUTPUT_REPLICA,
                        "pubsub" => OUTPUT_PUBSUB,
                        _ => {
                            return Err(ApplyError::Invalid(
                                "Invalid client class specified in buffer limit configuration."
                                    .into(),
                            ))
                        }
                    };
                    let bytes = |w: &str| {
                        parse_memory(w).ok_or_else(|| ApplyError::Invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into()))
                    };
                    let seconds: u64 = class[3].parse().map_err(|_| ApplyError::Invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into()))?;
                    limits[index] = OutputLimit {
                        hard: bytes(class[1])?,
                        soft: bytes(class[2])?,
                        soft_seconds: seconds,
                    };
                }
                self.output_limits = limits;
            }
            "auto-aof-rewrite-percentage" => {
                self.auto_aof_rewrite_percentage = parse_number(one()?)?
            }
            "auto-aof-rewrite-min-size" => self.auto_aof_rewrite_min_size = parse_bytes(one()?)?,
            other if REDIS_ONLY.contains(&other) => {
                self.ignored.insert(other.to_string(), value);
                return Ok(Applied::Ignored);
            }
            _ => return Err(ApplyError::Unknown),
        }
        Ok(Applied::Set)
    }

    /// The CONFIG GET text of a parameter, as Redis formats it.
    pub fn get(&self, name: &str) -> Option<String> {
        let name = canonical(name);
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        Some(match name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "dir" => std::fs::canonicalize(&self.dir)
                .unwrap_or_else(|_| self.dir.clone())
                .display()
                .to_string(),
            "databases" => self.databases.to_string(),
            "requirepass" => opt(&self.requirepass),
            "masterauth" => opt(&self.masterauth),
            "masteruser" => opt(&self.masteruser),
            "appendonly" => if self.appendonly { "yes" } else { "no" }.into(),
            "appendfsync" => self.appendfsync.name().into(),
            "replicaof" => self
                .replicaof
                .as_ref()
                .map(|(h, p)| format!("{h} {p}"))
                .unwrap_or_default(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "loglevel" => self.loglevel.clone(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "hz" => self.hz.to_string(),
            "notify-keyspace-events" => keyspace_events_text(&self.notify_keyspace_events),
            "repl-backlog-size" => self.repl_backlog_size.to_string(),
            "replica-read-only" => yes_no(self.replica_read_only),
            "replica-serve-stale-data" => yes_no(self.replica_serve_stale_data),
            "replica-announced" => yes_no(self.replica_announced),
            "replica-priority" => self.replica_priority.to_string(),
            "repl-timeout" => self.repl_timeout.to_string(),
            "client-output-buffer-limit" => {
                let l = &self.output_limits;
                let class = |name: &str, l: &OutputLimit| {
                    format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds)
                };
                format!(
                    "{} {} {}",
                    class("normal", &l[OUTPUT_NORMAL]),
                    class("slave", &l[OUTPUT_REPLICA]),
                    class("pubsub", &l[OUTPUT_PUBSUB])
                )
            }
            "auto-aof-rewrite-percentage" => self.auto_aof_rewrite_percentage.to_string(),
            "auto-aof-rewrite-min-size" => self.auto_aof_rewrite_min_size.to_string(),
            other => return self.ignored.get(other).cloned(),
        })
    }

    /// Every parameter CONFIG GET can show: the implemented ones and any Redis-only
    /// directives the configuration set.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = PARAMS.iter().map(|(n, _)| n.to_string()).collect();
        names.extend(self.ignored.keys().cloned());
        names
    }

    /// Whether CONFIG SET may change `name` while running.
    pub fn is_mutable(name: &str) -> bool {
        let name = canonical(name);
        PARAMS
            .iter()
            .find(|(n, _)| *n == name)
            .is_none_or(|(_, mutable)| *mutable)
    }

    /// Applies the lines of a redis.conf file. Returns the directives that were accepted
    /// without effect, for the caller to warn about.
    pub fn apply_file_text(&mut self, text: &str, file: &str) -> Result<Vec<String>, ConfigError> {
        let mut ignored = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let location = Some(format!("{file}:{}", index + 1));
            let Some(words) = crate::protocol::decode::split_args(line.as_bytes()) else {
                return Err(ConfigError {
                    directive: line.to_string(),
                    message: "unbalanced quotes in configuration line".into(),
                    location,
                });
            };
            let words: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            let (name, args) = words.split_first().expect("a non-empty line has a word");
            match self.apply(name, args) {
                Ok(Applied::Set) => {}
                Ok(Applied::Ignored) => {
                    if !ignored.contains(name) {
                        ignored.push(name.to_ascii_lowercase());
                    }
                }
                Err(e) => return Err(error_for(name, e, location)),
            }
        }
        Ok(ignored)
    }

    /// Builds the configuration from the command line: an optional redis.conf file as
    /// the first argument, then flags, which override the file.
    pub fn from_args<I, T>(args: I) -> Result<(Config, Vec<String>), Box<dyn std::error::Error>>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let flags = Flags::try_parse_from(args)?;
        let mut config = Config::default();
        let mut ignored = Vec::new();
        if let Some(file) = &flags.config_file {
            let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
                directive: file.display().to_string(),
                message: format!("cannot read the config file: {e}"),
                location: None,
            })?;
            ignored = config.apply_file_text(&text, &file.display().to_string())?;
            config.config_file = Some(absolute(file));
        }
        for (name, value) in flags.directives() {
            let args: Vec<String> = if name == "bind" || name == "replicaof" {
                value.split_whitespace().map(str::to_string).collect()
            } else {
                vec![value]
            };
            if let Err(e) = config.apply(name, &args) {
                return Err(Box::new(error_for(&format!("--{name}"), e, None)));
            }
        }
        config.aof_repair |= flags.aof_repair;
        Ok((config, ignored))
    }

    /// The configuration as redis.conf text, for CONFIG REWRITE.
    pub fn to_file_text(&self) -> String {
        let mut out = String::from("# Written by Roost (CONFIG REWRITE)\n");
        for name in self.names() {
            let value = self.get(&name).unwrap_or_default();
            let quoted = if value.is_empty()
                || value.contains(char::is_whitespace)
                    && name != "bind"
                    && name != "replicaof"
                    && name != "save"
            {
                format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                value
            };
            if name == "replicaof" && quoted == "\"\"" {
                continue;
            }
            out.push_str(&format!("{name} {quoted}\n"));
        }
        out
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn error_for(directive: &str, e: ApplyError, location: Option<String>) -> ConfigError {
    let message = match e {
        ApplyError::Unknown => "Bad directive or wrong number of arguments".to_string(),
        ApplyError::Invalid(m) => m,
        ApplyError::Immutable => "can't set immutable config".to_string(),
    };
    ConfigError {
        directive: directive.to_string(),
        message,
        location,
    }
}

/// Command-line flags. Names are Redis's; values are validated by `Config::apply`.
#[derive(Parser, Debug)]
#[command(
    name = "roost",
    version,
    about = "A session server that speaks the Redis protocol"
)]
struct Flags {
    /// A redis.conf-style configuration file; flags override it.
    config_file: Option<PathBuf>,
    /// TCP port to listen on.
    #[arg(long)]
    port: Option<String>,
    /// Addresses to listen on (space-separated).
    #[arg(long)]
    bind: Option<String>,
    /// Directory for the append-only log.
    #[arg(long)]
    dir: Option<String>,
    /// Number of databases.
    #[arg(long)]
    databases: Option<String>,
    /// Password clients must AUTH with.
    #[arg(long)]
    requirepass: Option<String>,
    /// Keep the append-only log (yes|no).
    #[arg(long)]
    appendonly: Option<String>,
    /// When to fsync the log: always|everysec|no.
    #[arg(long)]
    appendfsync: Option<String>,
    /// Replicate from "HOST PORT".
    #[arg(long)]
    replicaof: Option<String>,
    /// Password for the primary.
    #[arg(long)]
    masterauth: Option<String>,
    /// User for the primary.
    #[arg(long)]
    masteruser: Option<String>,
    /// Maximum connected clients.
    #[arg(long)]
    maxclients: Option<String>,
    /// Close clients idle for this many seconds (0 = never).
    #[arg(long)]
    timeout: Option<String>,
    /// debug|verbose|notice|warning.
    #[arg(long)]
    loglevel: Option<String>,
    /// Memory limit (e.g. 1gb).
    #[arg(long)]
    maxmemory: Option<String>,
    /// What to do at the memory limit (Redis's policy names).
    #[arg(long = "maxmemory-policy")]
    maxmemory_policy: Option<String>,
    /// Largest bulk string a client may send (e.g. 512mb).
    #[arg(long = "proto-max-bulk-len")]
    proto_max_bulk_len: Option<String>,
    /// Largest pending request per client (e.g. 1gb).
    #[arg(long = "client-query-buffer-limit")]
    client_query_buffer_limit: Option<String>,
    /// Background task frequency (1-500).
    #[arg(long)]
    hz: Option<String>,
    /// Keyspace notification classes (Redis's letters).
    #[arg(long = "notify-keyspace-events")]
    notify_keyspace_events: Option<String>,
    /// Replication backlog size (e.g. 1mb).
    #[arg(long = "repl-backlog-size")]
    repl_backlog_size: Option<String>,
    /// Rewrite the log when it grew by this percentage.
    #[arg(long = "auto-aof-rewrite-percentage")]
    auto_aof_rewrite_percentage: Option<String>,
    /// ...and is at least this big.
    #[arg(long = "auto-aof-rewrite-min-size")]
    auto_aof_rewrite_min_size: Option<String>,
    /// Start even if the log is corrupt before its end, keeping the valid prefix.
    #[arg(long = "aof-repair")]
    aof_repair: bool,
}

impl Flags {
    fn directives(&self) -> Vec<(&'static str, String)> {
        let pairs: [(&'static str, &Option<String>); 22] = [
            ("port", &self.port),
            ("bind", &self.bind),
            ("dir", &self.dir),
            ("databases", &self.databases),
            ("requirepass", &self.requirepass),
            ("appendonly", &self.appendonly),
            ("appendfsync", &self.appendfsync),
            ("replicaof", &self.replicaof),
            ("masterauth", &self.masterauth),
            ("masteruser", &self.masteruser),
            ("maxclients", &self.maxclients),
            ("timeout", &self.timeout),
            ("loglevel", &self.loglevel),
            ("maxmemory", &self.maxmemory),
            ("maxmemory-policy", &self.maxmemory_policy),
            ("proto-max-bulk-len", &self.proto_max_bulk_len),
            ("client-query-buffer-limit", &self.client_query_buffer_limit),
            ("hz", &self.hz),
            ("notify-keyspace-events", &self.notify_keyspace_events),
            ("repl-backlog-size", &self.repl_backlog_size),
            (
                "auto-aof-rewrite-percentage",
                &self.auto_aof_rewrite_percentage,
            ),
            ("auto-aof-rewrite-min-size", &self.auto_aof_rewrite_min_size),
        ];
        pairs
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("roost")
            .chain(list.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("512MB"), Some(512 * 1024 * 1024));
        assert_eq!(parse_memory("1gb"), Some(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1tb"), None);
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn flags_override_defaults() {
        let (c, _) = Config::from_args(args(&[
            "--port",
            "7000",
            "--appendfsync",
            "always",
            "--maxmemory",
            "1gb",
        ]))
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.appendfsync, AppendFsync::Always);
        assert_eq!(c.maxmemory, 1 << 30);
        let (c, _) = Config::from_args(args(&["--replicaof", "10.0.0.1 6380"])).unwrap();
        assert_eq!(c.replicaof, Some(("10.0.0.1".into(), 6380)));
    }

    #[test]
    fn bad_flag_values_name_the_flag() {
        let err = Config::from_args(args(&["--appendfsync", "sometimes"])).unwrap_err();
        assert!(err.to_string().contains("--appendfsync"), "{err}");
        let err = Config::from_args(args(&["--port", "99999"])).unwrap_err();
        assert!(err.to_string().contains("--port"), "{err}");
        assert!(Config::from_args(args(&["--no-such-flag", "1"])).is_err());
    }

    #[test]
    fn config_file_lines() {
        let mut c = Config::default();
        let ignored = c
            .apply_file_text(
                "# comment\nport 7001\nsave 900 1\nsave 300 10\nbind 127.0.0.1 ::1\nrequirepass \"a b\"\nmaxmemory 100mb\nslaveof host 1234\n",
                "test.conf",
            )
            .unwrap();
        assert_eq!(ignored, ["save"]);
        assert_eq!(c.port, 7001);
        assert_eq!(c.bind, ["127.0.0.1", "::1"]);
        assert_eq!(c.requirepass.as_deref(), Some("a b"));
        assert_eq!(c.maxmemory, 100 << 20);
        assert_eq!(c.replicaof, Some(("host".into(), 1234)));
        let err = Config::default()
            .apply_file_text("port 1\nfrobnicate yes\n", "x.conf")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.conf:2: 'frobnicate': Bad directive or wrong number of arguments"
        );
        let err = Config::default()
            .apply_file_text("appendonly maybe\n", "x.conf")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.conf:1: 'appendonly': argument must be 'yes' or 'no'"
        );
    }

    #[test]
    fn debian_redis_conf_is_accepted() {
        let Ok(text) = std::fs::read_to_string("/etc/redis/redis.conf") else {
            return; // redis-server is not installed on this machine
        };
        let mut c = Config::default();
        let ignored = c.apply_file_text(&text, "/etc/redis/redis.conf").unwrap();
        assert!(
            ignored.contains(&"save".to_string()) || ignored.contains(&"daemonize".to_string())
        );
    }

    #[test]
    fn get_formats_like_redis() {
        let c = Config::default();
        assert_eq!(c.get("appendonly").unwrap(), "yes");
        assert_eq!(c.get("maxmemory").unwrap(), "0");
        assert_eq!(c.get("requirepass").unwrap(), "");
        assert_eq!(c.get("proto-max-bulk-len").unwrap(), "536870912");
        assert_eq!(c.get("nonexistent"), None);
    }

    #[test]
    fn keyspace_events_read_back_as_redis_prints_them() {
        for (set, shown) in [
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("An", "A"),
            ("g$lshzxetd", "A"),
            ("dtmn", "tdnm"),
            ("", ""),
        ] {
            assert_eq!(keyspace_events_text(set), shown, "{set}");
        }
    }
}
