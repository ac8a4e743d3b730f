//! Configuration: raw flags and redis.conf lines in, one validated `Config` out.
//!
//! Every parameter is one row of `PARAMS`: its name and old aliases, its syntax and
//! bounds, its default, whether CONFIG SET may change it, the hook that makes a run-time
//! change take effect, its command-line flag, and the `Config` field it lives in. All the
//! rest is derived from that table, so adding a parameter means adding a field and a row:
//! the defaults, the command line (clap, built from the rows), redis.conf lines, CONFIG
//! GET/SET and CONFIG REWRITE.
//!
//! Every source of configuration goes through one function, `Config::apply(name, value)`:
//! lines of a redis.conf file, command-line flags (which clap only collects), and
//! CONFIG SET at run time. So a value is validated the same way wherever it comes from,
//! and CONFIG GET prints it back the way Redis would.
//!
//! Redis 7 directives that Roost does not implement are accepted with one warning each
//! (a user's existing redis.conf must start Roost); a directive Redis does not know, or
//! a bad value, is an error that names it.
//!
//! Roost never fails open: a directive that restricts access is either enforced
//! (`requirepass`, `user`, `aclfile`, `bind`, `protected-mode`, `rename-command`, `port 0`,
//! `enable-debug-command`)
//! or stops startup with a message naming it (`loadmodule`: see `REFUSED`). Redis-only
//! directives left in `REDIS_ONLY` restrict nothing Roost has (the list says why for the
//! ones that look as if they might). `include` is honoured as Redis does it (see
//! `Config::apply_file`). CONFIG GET never shows a secret (`Param::secret`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use clap::{value_parser, Arg, ArgAction, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppendFsync {
    Always,
    #[default]
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

/// Redis's eviction policies (`store::Policy` carries them out).
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

const TLS_AUTH_CLIENTS: &[&str] = &["yes", "no", "optional"];

const PUBSUB_DEFAULTS: &[&str] = &["allchannels", "resetchannels"];

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];

/// In the order Redis lists them when refusing a value.
/// `syslog-facility` values, as Redis takes them (`log::SYSLOG_FACILITIES` has their
/// codes).
const SYSLOG_FACILITIES: &[&str] = &[
    "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// `supervised` values, as Redis takes them.
const SUPERVISORS: &[&str] = &["no", "systemd", "upstart", "auto"];

const FSYNC_POLICIES: &[&str] = &["everysec", "always", "no"];

/// Redis's values for `enable-debug-command` (and its other protected configs).
const PROTECTED_CONFIGS: &[&str] = &["no", "yes", "local"];

/// Declares the struct as written plus `blank()`, every field at its type's `Default`:
/// the ground on which `Default for Config` applies the table's defaults.
macro_rules! with_blank {
    ($(#[$attr:meta])* pub struct $name:ident {
        $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)*
    }) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$field_attr])* pub $field: $ty,)*
        }

        impl $name {
            fn blank() -> Self {
                $name { $($field: Default::default(),)* }
            }
        }
    };
}

with_blank! {
    /// The typed configuration the server reads; `PARAMS` says how each field is set
    /// and shown.
    #[derive(Debug, Clone)]
    pub struct Config {
        pub port: u16,
        pub bind: Vec<String>,
        pub dir: PathBuf,
        pub databases: usize,
        pub requirepass: Option<String>,
        pub appendonly: bool,
        /// The RDB file in `dir` that SAVE, BGSAVE and `save` schedules write, and that
        /// startup loads when there is no log.
        pub dbfilename: String,
        /// Compress strings in RDB files and DUMP payloads with LZF.
        pub rdbcompression: bool,
        /// End RDB files with a CRC-64 (else zero) and check it when loading.
        pub rdbchecksum: bool,
        /// The `save` schedule as Redis shows it ("3600 1 300 100"): pairs of seconds
        /// and changes; empty, none.
        pub save: String,
        /// A `save` directive was read at startup: the next one adds to it (Redis 7
        /// adds up the `save` lines of its file) instead of replacing the default.
        pub save_directives_seen: bool,
        pub appendfsync: AppendFsync,
        /// A log ending in a record cut short loads without it (yes) or stops startup (no).
        pub aof_load_truncated: bool,
        pub replicaof: Option<(String, u16)>,
        pub masterauth: Option<String>,
        pub masteruser: Option<String>,
        pub maxclients: usize,
        /// Idle seconds before a client is closed; 0 = never.
        pub timeout: u64,
        /// Seconds of silence before the kernel probes a client's connection (0 = off).
        pub tcp_keepalive: u64,
        pub loglevel: String,
        pub maxmemory: u64,
        pub maxmemory_policy: String,
        pub maxmemory_samples: u32,
        pub lfu_log_factor: u32,
        pub lfu_decay_time: u32,
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
        /// Seconds between the PINGs a primary sends Redis-format replicas.
        pub repl_ping_replica_period: u64,
        /// A Redis-format replica that can take it (`capa eof`) gets its RDB streamed
        /// as it is made, instead of from a temporary file under `dir`.
        pub repl_diskless_sync: bool,
        /// A primary refuses writes (NOREPLICAS) unless this many replicas have
        /// acknowledged within `min_replicas_max_lag` seconds; 0 (or a lag of 0): no check.
        pub min_replicas_to_write: u64,
        pub min_replicas_max_lag: u64,
        /// Milliseconds a script runs before other clients get BUSY.
        pub busy_reply_threshold: u64,
        /// `client-output-buffer-limit` for the classes normal, replica, pubsub.
        pub output_limits: [OutputLimit; 3],
        pub auto_aof_rewrite_percentage: u64,
        pub auto_aof_rewrite_min_size: u64,
        /// Start even if the log has a bad record before its end, keeping the good prefix.
        pub aof_repair: bool,
        /// Refuse connections from beyond loopback while the default user has no
        /// password (Redis's protected mode).
        pub protected_mode: bool,
        /// Redis's ACL file: the users, one `user` line each, loaded at startup and by
        /// ACL LOAD, written by ACL SAVE. Not together with `user` lines, as in Redis.
        pub aclfile: String,
        /// `acl-pubsub-default`: `allchannels` or `resetchannels` for new users.
        pub acl_pubsub_default: String,
        /// Entries ACL LOG keeps.
        pub acllog_max_len: u64,
        /// `no`, `yes` or `local`: who may run DEBUG.
        pub enable_debug_command: String,
        /// `no`, `yes` or `local`: who may run MODULE LOAD, LOADEX and UNLOAD (which
        /// load nothing here: Roost has no module API).
        pub enable_module_command: String,
        /// Microseconds a command runs before SLOWLOG records it; -1: never, 0: always.
        pub slowlog_log_slower_than: i64,
        /// Entries SLOWLOG keeps.
        pub slowlog_max_len: u64,
        /// Milliseconds an event lasts before LATENCY records it; 0: off.
        pub latency_monitor_threshold: u64,
        /// Per-command latency histograms (INFO latencystats).
        pub latency_tracking: bool,
        /// The percentiles INFO latencystats reports, as CONFIG GET prints them.
        pub latency_tracking_info_percentiles: String,
        /// `rename-command` lines and flags, in order.
        pub renames: Vec<Rename>,
        /// `user` lines, in file order (config file only, as in Redis).
        pub users: Vec<UserLine>,
        /// Bind the listeners to ports the OS picks instead of `port` (tests and
        /// embedding; a port of 0 still means no listener). Not a Redis directive: no
        /// flag or line sets it.
        pub pick_free_ports: bool,
        /// Where each directive set at startup came from (`file:line` or `--flag`), by
        /// its canonical name, for messages that must name it.
        pub origins: BTreeMap<String, String>,
        /// The TLS listener's port; 0 = none.
        pub tls_port: u16,
        pub tls_cert_file: Option<String>,
        pub tls_key_file: Option<String>,
        pub tls_key_file_pass: Option<String>,
        pub tls_client_cert_file: Option<String>,
        pub tls_client_key_file: Option<String>,
        pub tls_client_key_file_pass: Option<String>,
        pub tls_ca_cert_file: Option<String>,
        pub tls_ca_cert_dir: Option<String>,
        /// `yes`, `no` or `optional`.
        pub tls_auth_clients: String,
        pub tls_protocols: String,
        pub tls_ciphersuites: String,
        pub tls_ciphers: String,
        pub tls_prefer_server_ciphers: bool,
        pub tls_session_caching: bool,
        pub tls_session_cache_size: u64,
        pub tls_session_cache_timeout: u64,
        pub tls_replication: bool,
        /// The server log's file (appended to); none = stderr.
        pub logfile: Option<String>,
        /// Where the process id is written at startup and removed at exit.
        pub pidfile: Option<String>,
        /// Detach from the terminal and run in the background.
        pub daemonize: bool,
        /// `no`, `systemd`, `upstart` or `auto`: tell a supervisor when the server is
        /// ready and when it stops.
        pub supervised: String,
        /// The Unix domain socket to listen on beside TCP (plain RESP, no TLS); none = no
        /// Unix socket.
        pub unixsocket: Option<String>,
        /// The mode the socket file is given (`unixsocketperm 700`); 0 = left as the
        /// umask makes it.
        pub unixsocketperm: u32,
        /// Send the log to syslog too, as `syslog_ident` with `syslog_facility`.
        pub syslog_enabled: bool,
        pub syslog_ident: String,
        pub syslog_facility: String,
        /// The config file given at startup, for CONFIG REWRITE.
        pub config_file: Option<PathBuf>,
        /// Redis directives accepted but not implemented, as given (CONFIG GET shows them).
        pub ignored: BTreeMap<String, String>,
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Config::blank();
        for param in PARAMS {
            param
                .set(&mut config, &param.args(param.default))
                .expect("the table's defaults are valid");
        }
        config
    }
}

/// One `rename-command FROM TO` line: the command called FROM (as named so far) is
/// reachable as TO only; an empty TO disables it. Checked against the command table when
/// the server's state is built (`cmd::command_names`), since this layer does not know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLine {
    pub name: String,
    /// The rules as written, a selector possibly split over several words.
    pub rules: Vec<String>,
    /// `file:line`, for the message if a rule is bad.
    pub location: String,
    /// Defined in a file that an `include` line read.
    pub included: bool,
}

/// A `rename-command` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub from: String,
    pub to: String,
    /// `file:line`, for the message if FROM is no command.
    pub location: String,
    /// Defined in a file that an `include` line read.
    pub included: bool,
}

/// One class of `client-output-buffer-limit`: a connection whose pending output reaches
/// `hard` bytes, or stays at or over `soft` for more than `soft_seconds`, is closed.
/// 0 = no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl OutputLimit {
    /// Whether a connection with `pending` bytes of output must be closed now, as Redis's
    /// `checkClientOutputBufferLimits` decides: at the hard limit at once; at the soft
    /// limit once it has stayed there for more than `soft_seconds`. `over_soft_since`
    /// (unix ms) is the connection's own record of when it reached the soft limit: set
    /// here when it gets there, cleared when it is seen below.
    pub fn exceeded(&self, pending: u64, over_soft_since: &mut Option<u64>, now_ms: u64) -> bool {
        if self.hard > 0 && pending >= self.hard {
            return true;
        }
        if self.soft == 0 || pending < self.soft {
            *over_soft_since = None;
            return false;
        }
        let since = *over_soft_since.get_or_insert(now_ms);
        now_ms.saturating_sub(since) > self.soft_seconds * 1000
    }

    /// When a connection over the soft limit since `over_soft_since` passes it for good
    /// (unix ms), if it stays there.
    pub fn soft_deadline(&self, over_soft_since: Option<u64>) -> Option<u64> {
        over_soft_since.map(|since| since + self.soft_seconds * 1000 + 1)
    }
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

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/// One configuration parameter. Rows are declared with `row(...)` and the builder
/// methods below; `field!` names the `Config` field the row reads and writes.
pub struct Param {
    pub name: &'static str,
    /// Older names Redis still accepts (`slaveof`, `slave-read-only`, ...).
    pub aliases: &'static [&'static str],
    pub ty: Type,
    /// The value at startup, written as CONFIG GET prints it.
    pub default: &'static str,
    /// Whether CONFIG SET may change it while running.
    pub mutable: bool,
    /// What a run-time change needs, beyond the stored value, to take effect.
    pub hook: Option<Hook>,
    /// Help for the command-line flag `--NAME`; `None`: no flag.
    pub flag: Option<&'static str>,
    /// A password: CONFIG GET shows `SECRET_SHOWN` instead when it is set (Redis shows
    /// it).
    pub secret: bool,
    field: Access,
}

/// What the server must do for a change made by CONFIG SET to take effect, for the
/// parameters it does not read afresh each time. The table only names it;
/// src/cmd/config.rs carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Set the log's level.
    LogLevel,
    /// Pass the frequency to the background tasks.
    Hz,
    /// Switch the append-only log's fsync policy.
    FsyncPolicy,
    /// Resize the replication backlog.
    BacklogSize,
    /// Record key accesses as frequencies (LFU policies) or times, and evict by the
    /// new policy (and samples).
    EvictionPolicy,
    /// Apply the new memory limit, evicting down to it at once.
    MaxMemory,
    /// Reload the keyspace notification classes.
    KeyspaceEvents,
    /// Build the TLS materials anew (certificate rotation); a bad set is refused and
    /// the old one kept.
    Tls,
    /// `requirepass` is the default user's password.
    DefaultPassword,
    /// Channels new users and selectors get.
    PubsubDefault,
    /// The thresholds and sizes of SLOWLOG, LATENCY and latency tracking, which the
    /// command path reads without the configuration's lock.
    Diagnostics,
    /// `busy-reply-threshold`, which every script reads without the configuration's
    /// lock.
    ScriptThreshold,
}

/// A parameter's syntax: how its arguments are checked and parsed, and how its value
/// is printed.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    /// `yes` or `no`.
    Bool,
    /// A number, then checked against `bounds`.
    Int {
        syntax: Syntax,
        bounds: Option<Bounds>,
    },
    /// One of these words, case-insensitive; kept in lower case.
    Choice(&'static [&'static str]),
    /// One argument, as given; empty means unset where the field is optional.
    Text,
    /// A directory: one argument, shown absolute when it exists.
    Path,
    /// One or more words (`bind`).
    Words,
    /// `HOST PORT`, or `NO ONE` or nothing for none (`replicaof`).
    HostPort,
    /// Keyspace notification classes, shown the way Redis prints them.
    Events,
    /// `client-output-buffer-limit`: CLASS HARD SOFT SECONDS, repeated; classes not
    /// named keep their limits.
    OutputLimits,
    /// Numbers between 0 and 100 (`latency-tracking-info-percentiles`), none or more.
    Percentiles,
    /// Pairs of seconds and changes (`save`), none or more.
    SavePoints,
}

/// How a number is written; an unsigned syntax refuses a sign, and a number the syntax
/// cannot hold is not a number ("couldn't be parsed into an integer").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    U32,
    U64,
    I64,
    /// Bytes with an optional unit (`parse_memory`).
    Memory,
    /// An octal number (file modes), shown in octal.
    Octal,
}

/// The range Redis allows a number in, and what Roost does with one outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: i64,
    pub max: i64,
    pub outside: Outside,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// Refused: "argument must be between MIN and MAX inclusive".
    Refuse,
    /// Refused below `min` with that message; above `max` still accepted (Redis would
    /// refuse it; Roost never has).
    RefuseBelow,
    /// Moved into the range, as Redis does with `hz`.
    Clamp,
}

use Outside::{Clamp, Refuse, RefuseBelow};
use Syntax::{Memory, Octal, I64, U32, U64};

/// Redis's usual upper bounds.
const I32_MAX: i64 = i32::MAX as i64;
const U32_MAX: i64 = u32::MAX as i64;
const I64_MAX: i64 = i64::MAX;

const fn row(name: &'static str, field: Access, ty: Type, default: &'static str) -> Param {
    Param {
        name,
        aliases: &[],
        ty,
        default,
        mutable: true,
        hook: None,
        flag: None,
        secret: false,
        field,
    }
}

const fn num(syntax: Syntax) -> Type {
    Type::Int {
        syntax,
        bounds: None,
    }
}

impl Type {
    const fn range(self, min: i64, max: i64, outside: Outside) -> Type {
        match self {
            Type::Int { syntax, .. } => Type::Int {
                syntax,
                bounds: Some(Bounds { min, max, outside }),
            },
            _ => panic!("only numbers have bounds"),
        }
    }
}

impl Param {
    /// CONFIG SET refuses it ("can't set immutable config").
    const fn fixed(mut self) -> Self {
        self.mutable = false;
        self
    }

    const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    const fn hook(mut self, hook: Hook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Adds the command-line flag `--NAME` with this help.
    const fn flag(mut self, help: &'static str) -> Self {
        self.flag = Some(help);
        self
    }

    /// A password: never shown by CONFIG GET.
    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// The `Config` field a row reads and writes.
macro_rules! field {
    ($field:ident) => {
        Access {
            load: |config| Field::load(&config.$field),
            store: |config, value| Field::store(&mut config.$field, value),
        }
    };
}

/// The parameters Roost implements, in the order CONFIG GET and CONFIG REWRITE list
/// them (and the help lists their flags).
#[rustfmt::skip] // one row, then one modifier, a line
pub static PARAMS: &[Param] = &[
    row("port", field!(port), num(U32).range(0, 65535, Refuse), "6379")
        .fixed()
        .flag("TCP port to listen on"),
    row("bind", field!(bind), Type::Words, "127.0.0.1")
        .fixed()
        .flag("Addresses to listen on (space-separated)"),
    row("dir", field!(dir), Type::Path, "./data")
        .fixed()
        .flag("Directory for the append-only log"),
    row("databases", field!(databases), num(U64).range(1, I32_MAX, Refuse), "16")
        .fixed()
        .flag("Number of databases"),
    row("requirepass", field!(requirepass), Type::Text, "")
        .secret()
        .hook(Hook::DefaultPassword)
        .flag("Password clients must AUTH with"),
    // Switching the log on or off at run time needs a rewrite Roost does not do yet.
    row("appendonly", field!(appendonly), Type::Bool, "yes")
        .fixed()
        .flag("Keep the append-only log (yes|no)"),
    row("dbfilename", field!(dbfilename), Type::Text, "dump.rdb")
        .fixed()
        .flag("RDB file name in dir (SAVE, BGSAVE, loaded at startup without a log)"),
    row("rdbcompression", field!(rdbcompression), Type::Bool, "yes")
        .flag("Compress strings in RDB files and DUMP payloads with LZF (yes|no)"),
    row("rdbchecksum", field!(rdbchecksum), Type::Bool, "yes")
        .fixed()
        .flag("End RDB files with a CRC-64 and check it at load (yes|no)"),
    row("save", field!(save), Type::SavePoints, "3600 1 300 100 60 10000")
        .flag("Write the RDB file after SECONDS if CHANGES writes: \"SECONDS CHANGES ...\" (\"\": never)"),
    row("appendfsync", field!(appendfsync), Type::Choice(FSYNC_POLICIES), "everysec")
        .hook(Hook::FsyncPolicy)
        .flag("When to fsync the log: always|everysec|no"),
    row("aof-load-truncated", field!(aof_load_truncated), Type::Bool, "yes")
        .flag("Load a log whose last record was cut short by a crash, without it (yes|no)"),
    row("replicaof", field!(replicaof), Type::HostPort, "")
        .aliases(&["slaveof"])
        .fixed()
        .flag("Replicate from \"HOST PORT\""),
    row("masterauth", field!(masterauth), Type::Text, "")
        .secret()
        .flag("Password for the primary"),
    row("masteruser", field!(masteruser), Type::Text, "")
        .flag("User for the primary"),
    row("maxclients", field!(maxclients), num(U64).range(1, U32_MAX, RefuseBelow), "10000")
        .flag("Maximum connected clients"),
    row("timeout", field!(timeout), num(I64).range(0, I32_MAX, Refuse), "0")
        .flag("Close clients idle for this many seconds (0 = never)"),
    row("tcp-keepalive", field!(tcp_keepalive), num(I64).range(0, I32_MAX, Refuse), "300")
        .flag("Probe silent client connections after this many seconds, to drop dead peers (0 = off)"),
    row("loglevel", field!(loglevel), Type::Choice(LOGLEVELS), "notice")
        .hook(Hook::LogLevel)
        .flag("debug|verbose|notice|warning"),
    row("maxmemory", field!(maxmemory), num(Memory), "0")
        .hook(Hook::MaxMemory)
        .flag("Memory limit (e.g. 1gb)"),
    row("maxmemory-policy", field!(maxmemory_policy), Type::Choice(MAXMEMORY_POLICIES),
        "noeviction")
        .hook(Hook::EvictionPolicy)
        .flag("What to do at the memory limit (Redis's policy names)"),
    row("maxmemory-samples", field!(maxmemory_samples), num(I64).range(1, I32_MAX, Refuse),
        "5")
        .hook(Hook::EvictionPolicy)
        .flag("Keys sampled per database to choose one to evict"),
    row("lfu-log-factor", field!(lfu_log_factor), num(I64).range(0, I32_MAX, Refuse), "10")
        .hook(Hook::EvictionPolicy)
        .flag("How slowly LFU access counters grow"),
    row("lfu-decay-time", field!(lfu_decay_time), num(I64).range(0, I32_MAX, Refuse), "1")
        .hook(Hook::EvictionPolicy)
        .flag("Idle minutes per point an LFU counter loses (0: never)"),
    row("proto-max-bulk-len", field!(proto_max_bulk_len),
        num(Memory).range(1 << 20, I64_MAX, RefuseBelow), "536870912")
        .flag("Largest bulk string a client may send (e.g. 512mb)"),
    row("client-query-buffer-limit", field!(client_query_buffer_limit),
        num(Memory).range(1 << 20, I64_MAX, RefuseBelow), "1073741824")
        .flag("Largest pending request per client (e.g. 1gb)"),
    row("hz", field!(hz), num(I64).range(1, 500, Clamp), "10")
        .hook(Hook::Hz)
        .flag("Background task frequency (1-500)"),
    row("notify-keyspace-events", field!(notify_keyspace_events), Type::Events, "")
        .hook(Hook::KeyspaceEvents)
        .flag("Keyspace notification classes (Redis's letters)"),
    row("repl-backlog-size", field!(repl_backlog_size),
        num(Memory).range(1, I64_MAX, RefuseBelow), "1048576")
        .hook(Hook::BacklogSize)
        .flag("Replication backlog size (e.g. 1mb)"),
    row("replica-read-only", field!(replica_read_only), Type::Bool, "yes")
        .aliases(&["slave-read-only"]),
    row("replica-serve-stale-data", field!(replica_serve_stale_data), Type::Bool, "yes")
        .aliases(&["slave-serve-stale-data"]),
    row("replica-priority", field!(replica_priority), num(I64).range(0, I32_MAX, Refuse), "100")
        .aliases(&["slave-priority"]),
    row("replica-announced", field!(replica_announced), Type::Bool, "yes"),
    row("repl-timeout", field!(repl_timeout), num(I64).range(1, I32_MAX, Refuse), "60"),
    row("repl-ping-replica-period", field!(repl_ping_replica_period),
        num(I64).range(1, I32_MAX, Refuse), "10")
        .aliases(&["repl-ping-slave-period"]),
    row("repl-diskless-sync", field!(repl_diskless_sync), Type::Bool, "yes"),
    row("min-replicas-to-write", field!(min_replicas_to_write),
        num(I64).range(0, I32_MAX, Refuse), "0")
        .aliases(&["min-slaves-to-write"]),
    row("min-replicas-max-lag", field!(min_replicas_max_lag),
        num(I64).range(0, I32_MAX, Refuse), "10")
        .aliases(&["min-slaves-max-lag"]),
    row("busy-reply-threshold", field!(busy_reply_threshold), num(I64).range(0, I64_MAX, Refuse),
        "5000")
        .aliases(&["lua-time-limit"])
        .hook(Hook::ScriptThreshold)
        .flag("Milliseconds a script runs before other clients get BUSY"),
    // How the process runs: set at startup only, as in Redis.
    row("logfile", field!(logfile), Type::Text, "")
        .fixed()
        .flag("Append the log to this file instead of writing it to stderr"),
    row("pidfile", field!(pidfile), Type::Text, "")
        .fixed()
        .flag("Write the process id to this file (removed at exit)"),
    row("daemonize", field!(daemonize), Type::Bool, "no")
        .fixed()
        .flag("Run in the background (yes|no)"),
    row("supervised", field!(supervised), Type::Choice(SUPERVISORS), "no")
        .fixed()
        .flag("Tell a supervisor when ready and when stopping: no|systemd|upstart|auto"),
    // Redis's ident is "redis"; a Roost server's lines are Roost's.
    row("syslog-enabled", field!(syslog_enabled), Type::Bool, "no")
        .fixed()
        .flag("Also send the log to syslog (yes|no)"),
    row("syslog-ident", field!(syslog_ident), Type::Text, "roost")
        .fixed()
        .flag("The program name on syslog lines"),
    row("syslog-facility", field!(syslog_facility), Type::Choice(SYSLOG_FACILITIES), "local0")
        .fixed()
        .flag("Syslog facility: user, local0 ... local7"),
    row("unixsocket", field!(unixsocket), Type::Text, "")
        .fixed()
        .flag("Also listen on this Unix socket (plain RESP)"),
    row("unixsocketperm", field!(unixsocketperm), num(Octal).range(0, 0o777, Refuse), "0")
        .fixed()
        .flag("Mode of the Unix socket file, in octal (0 = as the umask leaves it)"),
    // Redis's defaults for replicas and subscribers; for normal clients Redis has none
    // (`normal 0 0 0`). Roost's: a session store's replies are small, so a client with
    // 128 MB of replies unread (one reply that big: KEYS * on millions of keys) or with
    // 64 KB unread for over a minute (it sends requests and does not read the answers)
    // is broken or hostile, and is closed before it can take the server's memory.
    // Pipelined requests are not run ahead of a client by more than 64 KB of replies
    // (`server::connection`), so a client that reads slowly but steadily stays under.
    row("client-output-buffer-limit", field!(output_limits), Type::OutputLimits,
        "normal 134217728 65536 60 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    row("auto-aof-rewrite-percentage", field!(auto_aof_rewrite_percentage), num(U64), "100")
        .flag("Rewrite the log when it grew by this percentage"),
    row("auto-aof-rewrite-min-size", field!(auto_aof_rewrite_min_size), num(Memory), "67108864")
        .flag("...and is at least this big"),
    row("aclfile", field!(aclfile), Type::Text, "")
        .fixed(),
    row("acl-pubsub-default", field!(acl_pubsub_default), Type::Choice(PUBSUB_DEFAULTS),
        "resetchannels")
        .hook(Hook::PubsubDefault),
    row("acllog-max-len", field!(acllog_max_len), num(U64).range(0, I64_MAX, Refuse), "128"),
    // Who may run DEBUG (it can stop the server): nobody, local clients, everyone.
    row("enable-debug-command", field!(enable_debug_command), Type::Choice(PROTECTED_CONFIGS),
        "no")
        .fixed(),
    // Who may ask MODULE to load or unload (Roost loads no modules: past this gate,
    // Redis's failure texts).
    row("enable-module-command", field!(enable_module_command),
        Type::Choice(PROTECTED_CONFIGS), "no")
        .fixed(),
    row("slowlog-log-slower-than", field!(slowlog_log_slower_than),
        num(I64).range(-1, I64_MAX, Refuse), "10000")
        .hook(Hook::Diagnostics)
        .flag("Microseconds a command runs before SLOWLOG records it (-1: never)"),
    row("slowlog-max-len", field!(slowlog_max_len), num(I64).range(0, I64_MAX, Refuse), "128")
        .hook(Hook::Diagnostics)
        .flag("Entries SLOWLOG keeps"),
    row("latency-monitor-threshold", field!(latency_monitor_threshold),
        num(I64).range(0, I64_MAX, Refuse), "0")
        .hook(Hook::Diagnostics)
        .flag("Milliseconds an event lasts before LATENCY records it (0: off)"),
    row("latency-tracking", field!(latency_tracking), Type::Bool, "yes")
        .hook(Hook::Diagnostics),
    row("latency-tracking-info-percentiles", field!(latency_tracking_info_percentiles),
        Type::Percentiles, "50 99 99.9")
        .hook(Hook::Diagnostics),
    row("protected-mode", field!(protected_mode), Type::Bool, "yes")
        .flag("Refuse clients beyond loopback while there is no password (yes|no)"),
    row("tls-port", field!(tls_port), num(U32).range(0, 65535, Refuse), "0")
        .fixed()
        .flag("TLS port to listen on (0 = none)"),
    row("tls-cert-file", field!(tls_cert_file), Type::Text, "")
        .hook(Hook::Tls)
        .flag("Server certificate (PEM)"),
    row("tls-key-file", field!(tls_key_file), Type::Text, "")
        .hook(Hook::Tls)
        .flag("Server private key (PEM, unencrypted)"),
    row("tls-key-file-pass", field!(tls_key_file_pass), Type::Text, "")
        .hook(Hook::Tls)
        .secret()
        .flag("Refused: Roost cannot decrypt keys"),
    row("tls-client-cert-file", field!(tls_client_cert_file), Type::Text, "")
        .hook(Hook::Tls)
        .flag("Certificate a replica presents to its primary"),
    row("tls-client-key-file", field!(tls_client_key_file), Type::Text, "")
        .hook(Hook::Tls)
        .flag("Key of tls-client-cert-file"),
    row("tls-client-key-file-pass", field!(tls_client_key_file_pass), Type::Text, "")
        .hook(Hook::Tls)
        .secret()
        .flag("Refused: Roost cannot decrypt keys"),
    row("tls-ca-cert-file", field!(tls_ca_cert_file), Type::Text, "")
        .hook(Hook::Tls)
        .flag("CA certificates peers are verified against (PEM)"),
    row("tls-ca-cert-dir", field!(tls_ca_cert_dir), Type::Text, "")
        .hook(Hook::Tls)
        .flag("Directory of CA certificates (PEM)"),
    row("tls-auth-clients", field!(tls_auth_clients), Type::Choice(TLS_AUTH_CLIENTS), "yes")
        .hook(Hook::Tls)
        .flag("Client certificates: yes (required) | optional | no"),
    row("tls-protocols", field!(tls_protocols), Type::Text, "")
        .hook(Hook::Tls)
        .flag("\"TLSv1.2 TLSv1.3\" or one of them (empty = both)"),
    row("tls-ciphersuites", field!(tls_ciphersuites), Type::Text, "")
        .hook(Hook::Tls)
        .flag("TLS 1.3 suites, OpenSSL names, colon-separated"),
    row("tls-ciphers", field!(tls_ciphers), Type::Text, "")
        .hook(Hook::Tls)
        .flag("TLS 1.2 ciphers, OpenSSL names, colon-separated"),
    row("tls-prefer-server-ciphers", field!(tls_prefer_server_ciphers), Type::Bool, "no")
        .hook(Hook::Tls)
        .flag("Choose the cipher by the server's order (yes|no)"),
    row("tls-session-caching", field!(tls_session_caching), Type::Bool, "yes")
        .hook(Hook::Tls)
        .flag("Let clients resume TLS sessions (yes|no)"),
    row("tls-session-cache-size", field!(tls_session_cache_size),
        num(I64).range(0, I32_MAX, Refuse), "20480")
        .hook(Hook::Tls)
        .flag("TLS sessions kept for resumption"),
    row("tls-session-cache-timeout", field!(tls_session_cache_timeout),
        num(I64).range(0, I32_MAX, Refuse), "300")
        .hook(Hook::Tls)
        .flag("Seconds a TLS session may be resumed"),
    row("tls-replication", field!(tls_replication), Type::Bool, "no")
        .hook(Hook::Tls)
        .flag("Reach the primary over TLS (yes|no)"),
];

/// Old names of Redis-only directives (old names of Roost's own are in `PARAMS`).
const REDIS_ONLY_ALIASES: &[(&str, &str)] = &[
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
];

fn redis_only_name(name: &str) -> &str {
    REDIS_ONLY_ALIASES
        .iter()
        .find(|(old, _)| *old == name)
        .map_or(name, |(_, new)| new)
}

/// Whether a directive's value is a list of words (so a flag's or CONFIG SET's single
/// string is split, and CONFIG REWRITE writes it unquoted). Redis's `save` is one too.
fn takes_words(name: &str) -> bool {
    Param::find(name).is_some_and(|p| p.ty.takes_words())
}

impl Param {
    /// The row called `name` or one of its aliases (exact, lower case).
    pub fn find(name: &str) -> Option<&'static Param> {
        PARAMS
            .iter()
            .find(|p| p.name == name || p.aliases.contains(&name))
    }

    fn args(&self, value: &str) -> Vec<String> {
        Config::value_args(self.name, value)
    }

    /// Validates `args` and stores the value; nothing changes on error.
    fn set(&self, config: &mut Config, args: &[String]) -> Result<(), ApplyError> {
        let value = self.ty.parse(args, || (self.field.load)(config))?;
        (self.field.store)(config, value)
    }

    /// The value as CONFIG GET prints it.
    fn get(&self, config: &Config) -> String {
        self.ty.format((self.field.load)(config))
    }
}

/// A value between its text (`Type`) and its `Config` field (`Field`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bool(bool),
    Int(i128),
    Text(String),
    Words(Vec<String>),
    HostPort(Option<(String, u16)>),
    Limits([OutputLimit; 3]),
}

struct Access {
    load: fn(&Config) -> Value,
    store: fn(&mut Config, Value) -> Result<(), ApplyError>,
}

fn invalid(message: &str) -> ApplyError {
    ApplyError::Invalid(message.into())
}

fn not_an_integer() -> ApplyError {
    invalid("argument couldn't be parsed into an integer")
}

fn words(args: &[String]) -> Vec<&str> {
    args.iter().flat_map(|a| a.split_whitespace()).collect()
}

impl Type {
    fn takes_words(self) -> bool {
        matches!(
            self,
            Type::Words | Type::HostPort | Type::Percentiles | Type::SavePoints
        )
    }

    /// `current` is the field's value, for a type that changes only part of it.
    fn parse(self, args: &[String], current: impl FnOnce() -> Value) -> Result<Value, ApplyError> {
        let one = || match args {
            [one] => Ok(one),
            _ => Err(invalid("wrong number of arguments")),
        };
        Ok(match self {
            Type::Bool => Value::Bool(parse_bool(one()?)?),
            Type::Int { syntax, bounds } => {
                let n = syntax.parse(one()?)?;
                Value::Int(bounds.map_or(Ok(n), |b| b.check(n, syntax))?)
            }
            Type::Choice(choices) => Value::Text(one_of(one()?, choices)?),
            Type::Text | Type::Path => Value::Text(one()?.clone()),
            Type::Events => {
                let flags = one()?;
                if !flags.chars().all(|c| "KEg$lshzxetmdnA".contains(c)) {
                    return Err(invalid(
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                    ));
                }
                Value::Text(flags.clone())
            }
            Type::Words => {
                if args.is_empty() {
                    return Err(invalid("wrong number of arguments"));
                }
                Value::Words(words(args).into_iter().map(str::to_string).collect())
            }
            Type::HostPort => parse_host_port(&words(args))?,
            Type::OutputLimits => parse_output_limits(&words(args), current())?,
            Type::Percentiles => Value::Text(parse_percentiles(&words(args))?),
            Type::SavePoints => Value::Text(parse_save_points(&words(args))?),
        })
    }

    fn format(self, value: Value) -> String {
        match (self, value) {
            (_, Value::Bool(b)) => if b { "yes" } else { "no" }.into(),
            (Type::Int { syntax, .. }, Value::Int(n)) => syntax.show(n),
            (_, Value::Int(n)) => n.to_string(),
            (Type::Path, Value::Text(dir)) => {
                std::fs::canonicalize(&dir).map_or(dir, |path| path.display().to_string())
            }
            (Type::Events, Value::Text(flags)) => keyspace_events_text(&flags),
            (_, Value::Text(text)) => text,
            (_, Value::Words(list)) => list.join(" "),
            (_, Value::HostPort(primary)) => primary
                .map(|(host, port)| format!("{host} {port}"))
                .unwrap_or_default(),
            (_, Value::Limits(l)) => {
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
        }
    }
}

impl Syntax {
    fn parse(self, text: &str) -> Result<i128, ApplyError> {
        let n = match self {
            U32 => text.parse::<u32>().map(i128::from),
            U64 => text.parse::<u64>().map(i128::from),
            I64 => text.parse::<i64>().map(i128::from),
            Memory => {
                return parse_memory(text)
                    .map(i128::from)
                    .ok_or_else(|| invalid("argument must be a memory value"))
            }
            Octal => {
                // Digits only, as Redis's strtoll(..., 8) with its end checked.
                let digits = !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
                return digits
                    .then(|| u32::from_str_radix(text, 8).ok())
                    .flatten()
                    .map(i128::from)
                    .ok_or_else(|| invalid("argument couldn't be parsed as an octal number"));
            }
        };
        n.map_err(|_| not_an_integer())
    }

    /// A number as CONFIG GET prints it.
    fn show(self, n: i128) -> String {
        match self {
            Octal => format!("{n:o}"),
            _ => n.to_string(),
        }
    }
}

impl Bounds {
    fn check(self, n: i128, syntax: Syntax) -> Result<i128, ApplyError> {
        let (min, max) = (i128::from(self.min), i128::from(self.max));
        let refused = match self.outside {
            Refuse => n < min || n > max,
            RefuseBelow => n < min,
            Clamp => return Ok(n.clamp(min, max)),
        };
        if refused {
            return Err(ApplyError::Invalid(format!(
                "argument must be between {} and {} inclusive",
                syntax.show(self.min.into()),
                syntax.show(self.max.into())
            )));
        }
        Ok(n)
    }
}

fn parse_host_port(parts: &[&str]) -> Result<Value, ApplyError> {
    Ok(Value::HostPort(match parts {
        [] => None,
        [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => None,
        [host, port] => {
            let port: u16 = port.parse().map_err(|_| invalid("Invalid master port"))?;
            Some((host.to_string(), port))
        }
        _ => return Err(invalid("expected \"HOST PORT\"")),
    }))
}

/// Percentiles as Redis takes them, printed back as CONFIG GET shows them.
fn parse_percentiles(words: &[&str]) -> Result<String, ApplyError> {
    let mut shown = Vec::with_capacity(words.len());
    for word in words {
        let p: f64 = word
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite())
            .ok_or_else(|| invalid("Invalid latency-tracking-info-percentiles parameters"))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(invalid(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
            ));
        }
        shown.push(p.to_string());
    }
    Ok(shown.join(" "))
}

fn parse_save_points(words: &[&str]) -> Result<String, ApplyError> {
    let numbers: Option<Vec<u64>> = words.iter().map(|w| w.parse().ok()).collect();
    match numbers {
        Some(n) if n.len() % 2 == 0 => {
            Ok(n.iter().map(u64::to_string).collect::<Vec<_>>().join(" "))
        }
        _ => Err(invalid("Invalid save parameters")),
    }
}

/// The (seconds, changes) points of a valid `save` value.
pub fn save_points(text: &str) -> Vec<(u64, u64)> {
    let n: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    n.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// The percentiles of a valid `latency-tracking-info-percentiles`.
pub fn percentiles(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn parse_output_limits(words: &[&str], current: Value) -> Result<Value, ApplyError> {
    let Value::Limits(mut limits) = current else {
        unreachable!("client-output-buffer-limit is stored as limits")
    };
    if words.is_empty() || words.len() % 4 != 0 {
        return Err(invalid(
            "Wrong number of arguments in buffer limit configuration.",
        ));
    }
    let bad_number =
        || invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration.");
    for class in words.chunks(4) {
        let index = match class[0].to_ascii_lowercase().as_str() {
            "normal" => OUTPUT_NORMAL,
            "replica" | "slave" => OUTPUT_REPLICA,
            "pubsub" => OUTPUT_PUBSUB,
            _ => {
                return Err(invalid(
                    "Invalid client class specified in buffer limit configuration.",
                ))
            }
        };
        let bytes = |w: &str| parse_memory(w).ok_or_else(bad_number);
        let seconds: u64 = class[3].parse().map_err(|_| bad_number())?;
        limits[index] = OutputLimit {
            hard: bytes(class[1])?,
            soft: bytes(class[2])?,
            soft_seconds: seconds,
        };
    }
    Ok(Value::Limits(limits))
}

/// A `Config` field's type, seen as a `Value`. A row whose `Type` produces a value of
/// another kind is a bug the table's tests catch.
trait Field {
    fn load(&self) -> Value;
    fn store(&mut self, value: Value) -> Result<(), ApplyError>;
}

fn mismatch(value: Value) -> ! {
    unreachable!("a row's type does not fit its field: {value:?}")
}

impl Field for bool {
    fn load(&self) -> Value {
        Value::Bool(*self)
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Bool(b) = value else {
            mismatch(value)
        };
        *self = b;
        Ok(())
    }
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn load(&self) -> Value {
                Value::Int(*self as i128)
            }
            fn store(&mut self, value: Value) -> Result<(), ApplyError> {
                let Value::Int(n) = value else { mismatch(value) };
                *self = <$t>::try_from(n).map_err(|_| not_an_integer())?;
                Ok(())
            }
        }
    )*};
}

int_field!(u16, u32, u64, usize, i64);

impl Field for String {
    fn load(&self) -> Value {
        Value::Text(self.clone())
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Text(text) = value else {
            mismatch(value)
        };
        *self = text;
        Ok(())
    }
}

/// Empty text means unset.
impl Field for Option<String> {
    fn load(&self) -> Value {
        Value::Text(self.clone().unwrap_or_default())
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Text(text) = value else {
            mismatch(value)
        };
        *self = (!text.is_empty()).then_some(text);
        Ok(())
    }
}

impl Field for PathBuf {
    fn load(&self) -> Value {
        Value::Text(self.display().to_string())
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Text(text) = value else {
            mismatch(value)
        };
        *self = PathBuf::from(text);
        Ok(())
    }
}

impl Field for AppendFsync {
    fn load(&self) -> Value {
        Value::Text(self.name().into())
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Text(text) = value else {
            mismatch(value)
        };
        *self = match text.as_str() {
            "always" => AppendFsync::Always,
            "everysec" => AppendFsync::Everysec,
            _ => AppendFsync::No,
        };
        Ok(())
    }
}

impl Field for Vec<String> {
    fn load(&self) -> Value {
        Value::Words(self.clone())
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Words(list) = value else {
            mismatch(value)
        };
        *self = list;
        Ok(())
    }
}

impl Field for Option<(String, u16)> {
    fn load(&self) -> Value {
        Value::HostPort(self.clone())
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::HostPort(primary) = value else {
            mismatch(value)
        };
        *self = primary;
        Ok(())
    }
}

impl Field for [OutputLimit; 3] {
    fn load(&self) -> Value {
        Value::Limits(*self)
    }
    fn store(&mut self, value: Value) -> Result<(), ApplyError> {
        let Value::Limits(limits) = value else {
            mismatch(value)
        };
        *self = limits;
        Ok(())
    }
}

/// Directives of `REDIS_ONLY` accepted without a warning: they tune how Redis stores,
/// snapshots or schedules things that Roost does its own way, and no setting of them
/// changes what a client sees or what Roost keeps (README, "Flags", lists them).
/// Debian's stock redis.conf sets many; warning about each would hide the warnings
/// that matter (`save`, `tcp-keepalive`, ...).
const NO_EFFECT_HERE: &[&str] = &[
    "activedefrag",
    "active-defrag-cycle-max",
    "active-defrag-cycle-min",
    "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "activerehashing",
    "always-show-logo",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "appenddirname",
    "appendfilename",
    "disable-thp",
    "dynamic-hz",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hll-sparse-max-bytes",
    "jemalloc-bg-thread",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "list-compress-depth",
    "list-max-listpack-size",
    "no-appendfsync-on-rewrite",
    "oom-score-adj",
    "oom-score-adj-values",
    "proc-title-template",
    "rdb-del-sync-files",
    "rdb-save-incremental-fsync",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "replica-lazy-flush",
    "set-max-intset-entries",
    "set-proc-title",
    "stop-writes-on-bgsave-error",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "tcp-backlog",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
];

/// Redis 7 directives Roost accepts without implementing them. None of them may restrict
/// access to anything Roost has; for those whose names suggest they might:
///
/// - (`enable-debug-command` and `enable-module-command` are parameters: DEBUG and
///   MODULE LOAD/UNLOAD are refused unless they allow it.)
/// - `enable-protected-configs`: the parameters Redis protects that Roost has (`dir`)
///   cannot be changed by CONFIG SET at all here, whatever the value.
///
/// Directives that do restrict access and are not implemented are in `REFUSED`.
const REDIS_ONLY: &[&str] = &[
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
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "aof_rewrite_cpulist",
    "appenddirname",
    "appendfilename",
    "bgsave_cpulist",
    "bind-source-addr",
    "bio_cpulist",
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
    "disable-thp",
    "dynamic-hz",
    "enable-protected-configs",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hll-sparse-max-bytes",
    "ignore-warnings",
    "io-threads",
    "io-threads-do-reads",
    "jemalloc-bg-thread",
    "key-load-delay",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "list-compress-depth",
    "list-max-listpack-size",
    "locale-collate",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "no-appendfsync-on-rewrite",
    "oom-score-adj",
    "oom-score-adj-values",
    "proc-title-template",
    "propagation-error-behavior",
    "rdb-del-sync-files",
    "rdb-key-save-delay",
    "rdb-save-incremental-fsync",
    "repl-backlog-ttl",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "replica-announce-ip",
    "replica-announce-port",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "sanitize-dump-payload",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "set-proc-title",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "shutdown-timeout",
    "stop-writes-on-bgsave-error",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "tcp-backlog",
    "tls-cluster",
    "tls-dh-params-file",
    "tracking-table-max-keys",
    "use-exit-on-panic",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
];

/// Redis directives that restrict access and that Roost does not implement: a line with
/// one stops startup, naming it, rather than leave the server more open than its
/// configuration says. As in Redis, they are not parameters (CONFIG GET/SET do not know
/// them).
const REFUSED: &[(&str, &str)] = &[(
    "loadmodule",
    "Roost cannot load Redis modules; refusing to start without one the configuration \
         asks for (a module may enforce access rules)",
)];

/// What CONFIG GET shows for a password that is set. An unset one shows as empty, as in
/// Redis; a set one is never shown (Redis 7 shows `requirepass` and `masterauth`).
pub const SECRET_SHOWN: &str = "(hidden)";

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
        _ => Err(invalid("argument must be 'yes' or 'no'")),
    }
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
        if let Some(param) = Param::find(&name) {
            param.set(self, args)?;
            return Ok(Applied::Set);
        }
        let name = redis_only_name(&name);
        if REDIS_ONLY.contains(&name) {
            self.ignored.insert(name.to_string(), args.join(" "));
            return Ok(Applied::Ignored);
        }
        Err(ApplyError::Unknown)
    }

    /// The text of a parameter's value, as Redis formats it, passwords included (for
    /// CONFIG REWRITE; CONFIG GET shows `shown`).
    pub fn get(&self, name: &str) -> Option<String> {
        match Param::find(name) {
            Some(param) => Some(param.get(self)),
            None => self.ignored.get(redis_only_name(name)).cloned(),
        }
    }

    /// What CONFIG GET shows: `get`, except that a password that is set shows as
    /// `SECRET_SHOWN`.
    pub fn shown(&self, name: &str) -> Option<String> {
        let value = self.get(name)?;
        let secret = Param::find(name).is_some_and(|param| param.secret);
        Some(if secret && !value.is_empty() {
            SECRET_SHOWN.to_string()
        } else {
            value
        })
    }

    /// Every parameter CONFIG GET can show: the implemented ones and any Redis-only
    /// directives the configuration set.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = PARAMS.iter().map(|p| p.name.to_string()).collect();
        names.extend(self.ignored.keys().cloned());
        names
    }

    /// Whether CONFIG SET may change `name` while running.
    pub fn is_mutable(name: &str) -> bool {
        Param::find(name).is_none_or(|p| p.mutable)
    }

    /// What a run-time change of `name` needs to take effect, if anything.
    pub fn hook(name: &str) -> Option<Hook> {
        Param::find(name).and_then(|p| p.hook)
    }

    /// The arguments a single string (a flag's or CONFIG SET's) stands for: its words for
    /// a directive that takes several (`bind`, `replicaof`, `save`), else itself.
    pub fn value_args(name: &str, value: &str) -> Vec<String> {
        if takes_words(name) {
            value.split_whitespace().map(str::to_string).collect()
        } else {
            vec![value.to_string()]
        }
    }

    /// Applies the lines of a redis.conf file. Returns the directives that were accepted
    /// without effect, for the caller to warn about. `file` names it in messages; an
    /// `include` in it is read as `apply_file` says.
    pub fn apply_file_text(&mut self, text: &str, file: &str) -> Result<Vec<String>, ConfigError> {
        let mut ignored = Vec::new();
        self.apply_text(text, file, &mut Vec::new(), &mut ignored)?;
        Ok(ignored)
    }

    /// Reads and applies a redis.conf file. An `include PATH` line applies that file's
    /// lines where it stands, as Redis does: nested includes are read too; a relative
    /// PATH is relative to the working directory (Redis opens it as given, not relative
    /// to the including file); a PATH with wildcards (`*`, `?`, `[`) includes every
    /// matching file in name order, and none if nothing matches (an empty `conf.d`).
    /// A file that cannot be read stops startup naming it; so does an include loop,
    /// which Redis does not detect.
    pub fn apply_file(&mut self, path: &Path) -> Result<Vec<String>, ConfigError> {
        let mut ignored = Vec::new();
        self.include(path, None, &mut Vec::new(), &mut ignored)?;
        Ok(ignored)
    }

    /// Applies the file at `path`; `from` is the location of the `include` line that
    /// named it, `stack` the files being read (for loops).
    fn include(
        &mut self,
        path: &Path,
        from: Option<&str>,
        stack: &mut Vec<PathBuf>,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let failed = |message: String| ConfigError {
            directive: match from {
                Some(_) => "include".to_string(),
                None => path.display().to_string(),
            },
            message,
            location: from.map(str::to_string),
        };
        let canonical = std::fs::canonicalize(path)
            .map_err(|e| failed(format!("can't open config file '{}': {e}", path.display())))?;
        if stack.contains(&canonical) {
            let chain: Vec<String> = stack
                .iter()
                .chain([&canonical])
                .map(|p| p.display().to_string())
                .collect();
            return Err(failed(format!("include loop: {}", chain.join(" -> "))));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| failed(format!("can't open config file '{}': {e}", path.display())))?;
        stack.push(canonical);
        self.apply_text(&text, &path.display().to_string(), stack, ignored)?;
        stack.pop();
        Ok(())
    }

    fn apply_text(
        &mut self,
        text: &str,
        file: &str,
        stack: &mut Vec<PathBuf>,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let location = format!("{file}:{}", index + 1);
            let Some(words) = crate::protocol::decode::split_args(line.as_bytes()) else {
                return Err(ConfigError {
                    directive: line.to_string(),
                    message: "unbalanced quotes in configuration line".into(),
                    location: Some(location),
                });
            };
            let words: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            let (name, args) = words.split_first().expect("a non-empty line has a word");
            self.apply_directive(name, args, name, Some(location), stack, ignored)?;
        }
        Ok(())
    }

    /// Applies one directive, from a config file line at `location` or from a flag;
    /// `shown_as` names it in errors (the directive, or `--name` for a flag).
    fn apply_directive(
        &mut self,
        name: &str,
        args: &[String],
        shown_as: &str,
        location: Option<String>,
        stack: &mut Vec<PathBuf>,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let lower = name.to_ascii_lowercase();
        let at = |message: &str| ConfigError {
            directive: shown_as.to_string(),
            message: message.to_string(),
            location: location.clone(),
        };
        let origin = location.clone().unwrap_or_else(|| shown_as.to_string());
        match (lower.as_str(), args) {
            ("include", [pattern]) => {
                let files = expand_include(pattern)
                    .map_err(|e| at(&format!("can't open config file '{pattern}': {e}")))?;
                for path in files {
                    self.include(&path, Some(&origin), stack, ignored)?;
                }
                return Ok(());
            }
            ("rename-command", [from, to]) => {
                self.renames.push(Rename {
                    from: from.clone(),
                    to: to.clone(),
                    location: origin,
                    included: stack.len() > 1,
                });
                return Ok(());
            }
            ("user", [name, rules @ ..]) => {
                self.users.push(UserLine {
                    name: name.clone(),
                    rules: rules.to_vec(),
                    location: origin,
                    included: stack.len() > 1,
                });
                return Ok(());
            }
            ("include" | "rename-command" | "user", _) => {
                return Err(at("Bad directive or wrong number of arguments"))
            }
            _ => {}
        }
        if let Some((_, why)) = REFUSED.iter().find(|(refused, _)| *refused == lower) {
            return Err(at(why));
        }
        // The first `save` line replaces the default schedule, later ones add to it.
        let added: Vec<String>;
        let args = if lower == "save" {
            let seen = std::mem::replace(&mut self.save_directives_seen, true);
            if seen && !words(args).is_empty() && !self.save.is_empty() {
                added = std::iter::once(self.save.clone())
                    .chain(args.iter().cloned())
                    .collect();
                &added[..]
            } else {
                args
            }
        } else {
            args
        };
        match self.apply(name, args) {
            Ok(Applied::Set) => {
                if let Some(param) = Param::find(&lower) {
                    self.origins.insert(param.name.to_string(), origin);
                }
            }
            Ok(Applied::Ignored) => {
                let quiet = NO_EFFECT_HERE.contains(&redis_only_name(&lower));
                if !quiet && !ignored.contains(&lower) {
                    ignored.push(lower);
                }
            }
            Err(e) => return Err(error_for(shown_as, e, location)),
        }
        Ok(())
    }

    /// Builds the configuration from the command line: an optional redis.conf file as
    /// the first argument, then flags, which override the file.
    pub fn from_args<I, T>(args: I) -> Result<(Config, Vec<String>), Box<dyn std::error::Error>>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let (args, directives) = split_directive_flags(args);
        let matches = command().try_get_matches_from(args)?;
        let mut config = Config::default();
        let mut ignored = Vec::new();
        if let Some(file) = matches.get_one::<PathBuf>(CONFIG_FILE) {
            ignored = config.apply_file(file)?;
            config.config_file = Some(absolute(file));
        }
        for (name, args) in directives {
            let flag = format!("--{name}");
            config.apply_directive(&name, &args, &flag, None, &mut Vec::new(), &mut ignored)?;
        }
        config.aof_repair |= matches.get_flag(AOF_REPAIR);
        config.check()?;
        Ok((config, ignored))
    }

    /// How many kinds of listener the configuration asks for: TCP unless `port` is 0,
    /// TLS if `tls-port` is set, and the Unix socket if `unixsocket` is.
    pub fn listener_count(&self) -> usize {
        usize::from(self.port != 0)
            + usize::from(self.tls_port != 0)
            + usize::from(self.unixsocket.is_some())
    }

    /// What no single directive can check: that the server listens somewhere (as
    /// Redis, which exits with "Configured to not listen anywhere").
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.listener_count() == 0 {
            let origin = self.origins.get("port");
            let (directive, location) = match origin {
                Some(flag) if flag.starts_with("--") => (flag.clone(), None),
                _ => ("port".to_string(), origin.cloned()),
            };
            return Err(ConfigError {
                directive,
                message: "port 0 turns the TCP listener off and no other listener \
                          (tls-port, unixsocket) is configured: Roost would listen nowhere"
                    .into(),
                location,
            });
        }
        Ok(())
    }

    /// The configuration file's text after CONFIG REWRITE, given its text before
    /// (`old`), rewritten as Redis rewrites it: comments, blank lines, `include` lines
    /// and anything else that is not a parameter, user or rename stay as they were; a
    /// directive's first line in the file takes its current value in place (an alias
    /// such as `slaveof` counts as its parameter) and its further lines go; a directive
    /// not in the file is appended under `# Generated by CONFIG REWRITE`, unless it is
    /// at its default. A replica promoted to primary loses its `replicaof` line.
    pub fn rewrite_file_text(&self, old: &str) -> String {
        let directives = self.directive_lines();
        let mut lines: Vec<Option<String>> = old.lines().map(|l| Some(l.to_string())).collect();
        let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, line) in old.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some(first) = crate::protocol::decode::split_args(trimmed.as_bytes())
                .and_then(|words| words.into_iter().next())
            else {
                continue;
            };
            let first = String::from_utf8_lossy(&first).to_ascii_lowercase();
            let name = Param::find(&first).map_or(first.as_str(), |p| p.name);
            if let Some((name, _, _)) = directives.iter().find(|(n, _, _)| n == name) {
                positions.entry(name.as_str()).or_default().push(index);
            }
        }
        let mut appended = Vec::new();
        for (name, new_lines, non_default) in &directives {
            let old_lines = positions.get(name.as_str()).map_or(&[][..], Vec::as_slice);
            if !non_default && old_lines.is_empty() {
                continue;
            }
            for (i, line) in new_lines.iter().enumerate() {
                match old_lines.get(i) {
                    Some(&at) => lines[at] = Some(line.clone()),
                    None => appended.push(line.clone()),
                }
            }
            for &at in old_lines.iter().skip(new_lines.len()) {
                lines[at] = None;
            }
        }
        let mut out: Vec<String> = lines.into_iter().flatten().collect();
        if !appended.is_empty() {
            if !out.iter().any(|l| l.trim() == REWRITE_SIGNATURE) {
                if out.last().is_some_and(|l| !l.trim().is_empty()) {
                    out.push(String::new());
                }
                out.push(REWRITE_SIGNATURE.to_string());
            }
            out.extend(appended);
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// Every directive CONFIG REWRITE writes, in order: its name, its lines with the
    /// current value, and whether that differs from the default.
    fn directive_lines(&self) -> Vec<(String, Vec<String>, bool)> {
        let mut directives = Vec::new();
        for name in self.names() {
            let value = self.get(&name).unwrap_or_default();
            let param = Param::find(&name);
            let non_default = param.is_none_or(|p| p.default != value);
            // A replica's primary, or none: no line.
            if value.is_empty() && param.is_some_and(|p| matches!(p.ty, Type::HostPort)) {
                directives.push((name, Vec::new(), false));
                continue;
            }
            let quoted =
                if value.is_empty() || value.contains(char::is_whitespace) && !takes_words(&name) {
                    quote(&value)
                } else {
                    value
                };
            let line = format!("{name} {quoted}");
            directives.push((name, vec![line], non_default));
        }
        // Users and renames may be defined once only: those an included file defines
        // stay there (its `include` line stays), or the next start would refuse them.
        // Users as configured at startup (ACL SETUSER changes live in ACL SAVE's file).
        let users: Vec<String> = self
            .users
            .iter()
            .filter(|user| !user.included)
            .map(|user| {
                let mut line = format!("user {}", quote(&user.name));
                for rule in &user.rules {
                    line.push(' ');
                    line.push_str(&quote(rule));
                }
                line
            })
            .collect();
        let any_user = !users.is_empty();
        directives.push(("user".to_string(), users, any_user));
        // Renames stay in force after a restart.
        let renames: Vec<String> = self
            .renames
            .iter()
            .filter(|r| !r.included)
            .map(|r| format!("rename-command {} {}", quote(&r.from), quote(&r.to)))
            .collect();
        let any_rename = !renames.is_empty();
        directives.push(("rename-command".to_string(), renames, any_rename));
        directives
    }
}

/// The comment above the directives CONFIG REWRITE appends (Redis's words, so a file
/// rewritten by either keeps one).
const REWRITE_SIGNATURE: &str = "# Generated by CONFIG REWRITE";

/// A value in double quotes, as `split_args` reads it back.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The files an `include` names: itself, or with wildcards the matching files in name
/// order (as glob(3) gives them to Redis).
fn expand_include(pattern: &str) -> std::io::Result<Vec<PathBuf>> {
    let wild = |part: &str| part.contains(['*', '?', '[']);
    if !wild(pattern) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let mut found = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        if !wild(part) {
            found = found.into_iter().map(|base| base.join(part)).collect();
            continue;
        }
        let mut next = Vec::new();
        for base in &found {
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries {
                let name = entry?.file_name();
                let name = name.to_string_lossy();
                // As glob(3): a wildcard does not match a leading dot.
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if crate::glob::matches(part.as_bytes(), name.as_bytes(), false) {
                    next.push(base.join(&*name));
                }
            }
        }
        found = next;
    }
    found.retain(|path| path.is_file());
    found.sort();
    Ok(found)
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

const CONFIG_FILE: &str = "config_file";
const AOF_REPAIR: &str = "aof-repair";

/// Takes the directives out of the command line, as redis-server reads them: `--name
/// arg...` is the config line `name arg...`, its arguments running to the next `--`, so
/// every directive is also a flag (`--save ""`, `--bind 127.0.0.1 ::1`). A single
/// argument of a directive that takes several words is split at spaces (`--replicaof
/// "HOST PORT"`), and `--name=value` is accepted too. What is left (the config file,
/// `--help`, `--version`, `--aof-repair`) is for clap.
fn split_directive_flags<I, T>(args: I) -> (Vec<std::ffi::OsString>, Vec<(String, Vec<String>)>)
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut rest = Vec::new();
    let mut directives: Vec<(String, Vec<String>)> = Vec::new();
    let mut collecting = false;
    for arg in args.into_iter().map(Into::into) {
        let text = arg.to_str().map(str::to_string);
        match text.as_deref().and_then(|t| t.strip_prefix("--")) {
            Some(flag) if !matches!(flag, "" | AOF_REPAIR | "help" | "version") => {
                let (name, value) = match flag.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_string())),
                    None => (flag, None),
                };
                directives.push((name.to_string(), value.into_iter().collect()));
                collecting = true;
                continue;
            }
            Some(_) => collecting = false,
            None if collecting => {
                if let (Some(text), Some((_, values))) = (text, directives.last_mut()) {
                    values.push(text);
                    continue;
                }
            }
            None => {}
        }
        rest.push(arg);
    }
    for (name, values) in &mut directives {
        if let [one] = values.as_slice() {
            let words = Config::value_args(&name.to_ascii_lowercase(), one);
            if !words.is_empty() {
                *values = words;
            }
        }
    }
    (rest, directives)
}

/// The command line: the optional config file, `--NAME VALUE` for each row with a flag
/// (values are validated by the row, not by clap), and `--aof-repair`.
fn command() -> Command {
    let mut command = Command::new("roost")
        // As `redis-server -v`: the version, and the Redis version clients see.
        .version(format!(
            "v={} redis_version={} bits={}",
            crate::VERSION,
            crate::VERSION_COMPAT,
            usize::BITS
        ))
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version and exit"),
        )
        .about("A session server that speaks the Redis protocol")
        .after_help(
            "Subcommands:\n  roost check-aof [--fix] FILE   check (and repair) a log file; \
             `roost check-aof --help`",
        )
        .arg(
            Arg::new(CONFIG_FILE)
                .value_name("CONFIG_FILE")
                .value_parser(value_parser!(PathBuf))
                .help("A redis.conf-style configuration file; flags override it"),
        );
    for param in PARAMS {
        let Some(help) = param.flag else { continue };
        command = command.arg(
            Arg::new(param.name)
                .long(param.name)
                .value_name(param.name.to_ascii_uppercase().replace('-', "_"))
                .value_parser(value_parser!(String))
                .action(ArgAction::Set)
                .help(help),
        );
    }
    // A startup switch, not a parameter: CONFIG neither shows nor sets it.
    command.arg(
        Arg::new(AOF_REPAIR)
            .long(AOF_REPAIR)
            .action(ArgAction::SetTrue)
            .help("Start even if the log is corrupt before its end, keeping the valid prefix"),
    )
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
        assert!(ignored.is_empty(), "{ignored:?}");
        // Redis 7 adds up the `save` lines of a file (the first replaces the default).
        assert_eq!(c.get("save").unwrap(), "900 1 300 10");
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
    fn debian_redis_conf_is_accepted_warning_only_about_what_matters() {
        let text = std::fs::read_to_string("/etc/redis/redis.conf")
            .expect("Debian's redis-server package provides /etc/redis/redis.conf");
        let mut c = Config::default();
        let ignored = c.apply_file_text(&text, "/etc/redis/redis.conf").unwrap();
        // Every directive of the stock file is implemented or in NO_EFFECT_HERE.
        assert_eq!(ignored, Vec::<String>::new());
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

    #[test]
    fn every_default_round_trips_through_its_parser_and_formatter() {
        let defaults = Config::default();
        for p in PARAMS {
            let mut c = Config::blank();
            p.set(&mut c, &p.args(p.default)).unwrap();
            let shown = p.get(&c);
            assert_eq!(shown, defaults.get(p.name).unwrap(), "{}", p.name);
            if !matches!(p.ty, Type::Path) {
                // A directory is shown absolute once it exists.
                assert_eq!(shown, p.default, "{}", p.name);
            }
            let mut again = Config::blank();
            p.set(&mut again, &p.args(&shown)).unwrap();
            assert_eq!(p.get(&again), shown, "{}", p.name);
        }
    }

    #[test]
    fn every_name_and_alias_resolves_to_its_row() {
        let c = Config::default();
        let mut seen = Vec::new();
        for p in PARAMS {
            for name in std::iter::once(&p.name).chain(p.aliases) {
                assert!(!seen.contains(name), "{name} twice");
                assert!(!REDIS_ONLY.contains(name), "{name} is also Redis-only");
                seen.push(*name);
                assert!(std::ptr::eq(Param::find(name).unwrap(), p), "{name}");
                assert_eq!(c.get(name), c.get(p.name), "{name}");
                let mut set = c.clone();
                assert_eq!(set.apply(name, &p.args(p.default)), Ok(Applied::Set));
                assert_eq!(Config::is_mutable(name), p.mutable, "{name}");
                assert_eq!(Config::hook(name), p.hook, "{name}");
            }
        }
        for (old, new) in REDIS_ONLY_ALIASES {
            assert!(
                REDIS_ONLY.contains(new) && !REDIS_ONLY.contains(old),
                "{old}"
            );
            let mut c = Config::default();
            assert_eq!(c.apply(old, &["1".into()]), Ok(Applied::Ignored));
            assert_eq!(c.get(new).as_deref(), Some("1"));
        }
    }

    #[test]
    fn every_mutable_row_can_be_set_to_its_default() {
        let defaults = Config::default();
        for p in PARAMS {
            // As CONFIG SET does: one string, split for lists, validated even if immutable.
            let mut c = defaults.clone();
            let args = Config::value_args(p.name, p.default);
            assert_eq!(c.apply(p.name, &args), Ok(Applied::Set), "{}", p.name);
            assert_eq!(format!("{c:?}"), format!("{defaults:?}"), "{}", p.name);
            // A hook only ever runs after CONFIG SET.
            assert!(p.mutable || p.hook.is_none(), "{}", p.name);
        }
    }

    #[test]
    fn numbers_outside_their_bounds_get_redis_message() {
        for p in PARAMS {
            let Type::Int {
                bounds: Some(b),
                syntax,
            } = p.ty
            else {
                continue;
            };
            let mut c = Config::default();
            let (min, max) = (syntax.show(b.min.into()), syntax.show(b.max.into()));
            assert_eq!(
                c.apply(p.name, std::slice::from_ref(&min)),
                Ok(Applied::Set)
            );
            assert_eq!(
                c.apply(p.name, std::slice::from_ref(&max)),
                Ok(Applied::Set)
            );
            assert_eq!(c.get(p.name), Some(max.clone()), "{}", p.name);
            let below = b.min - 1;
            if below < 0 && syntax != I64 {
                continue; // an unsigned syntax refuses the sign first
            }
            let result = c.apply(p.name, &[below.to_string()]);
            if b.outside == Clamp {
                assert_eq!(result, Ok(Applied::Set), "{}", p.name);
                assert_eq!(c.get(p.name).unwrap(), b.min.to_string());
            } else {
                let message = format!("argument must be between {min} and {max} inclusive");
                assert_eq!(result, Err(ApplyError::Invalid(message)), "{}", p.name);
            }
        }
    }

    /// Redis 7.0.15's answers, checked by hand: `unixsocketperm` is octal in and out.
    #[test]
    fn unixsocketperm_is_an_octal_mode() {
        let mut c = Config::default();
        assert_eq!(c.get("unixsocketperm").as_deref(), Some("0"));
        assert_eq!(c.apply("unixsocketperm", &["700".into()]), Ok(Applied::Set));
        assert_eq!(c.unixsocketperm, 0o700);
        assert_eq!(c.get("unixsocketperm").as_deref(), Some("700"));
        assert_eq!(
            c.apply("unixsocketperm", &["0770".into()]),
            Ok(Applied::Set)
        );
        assert_eq!(c.get("unixsocketperm").as_deref(), Some("770"));
        let not_octal = Err(invalid("argument couldn't be parsed as an octal number"));
        for bad in ["999", "-1", "7a", "", "+7"] {
            assert_eq!(c.apply("unixsocketperm", &[bad.into()]), not_octal, "{bad}");
        }
        assert_eq!(
            c.apply("unixsocketperm", &["1777".into()]),
            Err(invalid("argument must be between 0 and 777 inclusive"))
        );
        assert_eq!(c.unixsocketperm, 0o770, "a refused value changes nothing");
        assert_eq!(c.get("unixsocket").as_deref(), Some(""));
        assert!(!Config::is_mutable("unixsocket") && !Config::is_mutable("unixsocketperm"));
    }

    /// Redis 7.0.15's answers, checked by hand; the ident's default is Roost's own.
    #[test]
    fn syslog_directives_take_redis_values() {
        let names: Vec<&str> = crate::log::SYSLOG_FACILITIES
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(SYSLOG_FACILITIES, names, "one list of facilities");
        let mut c = Config::default();
        assert_eq!(c.get("syslog-enabled").as_deref(), Some("no"));
        assert_eq!(c.get("syslog-ident").as_deref(), Some("roost"));
        assert_eq!(c.get("syslog-facility").as_deref(), Some("local0"));
        assert_eq!(
            c.apply("syslog-facility", &["LOCAL5".into()]),
            Ok(Applied::Set)
        );
        assert_eq!(c.syslog_facility, "local5");
        assert_eq!(
            c.apply("syslog-facility", &["daemon".into()]),
            Err(invalid(
                "argument(s) must be one of the following: user, local0, local1, local2, \
                 local3, local4, local5, local6, local7"
            ))
        );
        assert_eq!(c.apply("syslog-ident", &["".into()]), Ok(Applied::Set));
        assert_eq!(c.get("syslog-ident").as_deref(), Some(""));
        for name in ["syslog-enabled", "syslog-ident", "syslog-facility"] {
            assert!(!Config::is_mutable(name), "{name}");
        }
        let err = Config::from_args(args(&["--syslog-facility", "kern"])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("'--syslog-facility': argument(s)"),
            "{err}"
        );
    }

    #[test]
    fn command_line_has_a_flag_per_flagged_row() {
        let command = command();
        command.clone().debug_assert();
        let longs: Vec<&str> = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .collect();
        for p in PARAMS {
            assert_eq!(longs.contains(&p.name), p.flag.is_some(), "{}", p.name);
        }
        assert!(longs.contains(&AOF_REPAIR));
        let (c, _) =
            Config::from_args(args(&["--aof-repair", "--repl-backlog-size", "2mb"])).unwrap();
        assert!(c.aof_repair);
        assert_eq!(c.repl_backlog_size, 2 << 20);
    }

    #[test]
    fn output_limits_close_at_the_hard_limit_or_after_the_soft_seconds() {
        let limit = OutputLimit {
            hard: 100,
            soft: 10,
            soft_seconds: 2,
        };
        let mut since = None;
        assert!(!limit.exceeded(9, &mut since, 1_000));
        assert_eq!(since, None);
        assert!(!limit.exceeded(10, &mut since, 1_000));
        assert_eq!(since, Some(1_000));
        assert_eq!(limit.soft_deadline(since), Some(3_001));
        assert!(!limit.exceeded(50, &mut since, 3_000));
        assert!(limit.exceeded(50, &mut since, 3_001));
        // Seen below the soft limit, the count starts again.
        assert!(!limit.exceeded(9, &mut since, 3_002));
        assert_eq!(since, None);
        assert!(!limit.exceeded(10, &mut since, 4_000));
        assert!(limit.exceeded(100, &mut since, 4_000));
        let none = OutputLimit::default();
        assert!(!none.exceeded(u64::MAX, &mut since, 10_000_000));
        let c = Config::default();
        assert_eq!(
            c.output_limits[OUTPUT_NORMAL],
            OutputLimit {
                hard: 128 << 20,
                soft: 64 << 10,
                soft_seconds: 60
            }
        );
    }

    #[test]
    fn rewritten_file_reads_back_the_same() {
        // `dir` is written absolute once it exists, so the test names one that does rather
        // than depend on whether `./data` happens to exist in the working directory.
        let dir = Dir::new("rewrite");
        let mut c = Config::default();
        c.apply_file_text(
            &format!("dir {}\n", quote(&dir.0.display().to_string())),
            "w.conf",
        )
        .unwrap();
        c.apply_file_text(
            "bind 10.0.0.1 ::1\nrequirepass \"a \\\"b\"\nsave 900 1\nsave \"\"\nclient-output-buffer-limit pubsub 1mb 2mb 3\nslave-lazy-flush yes\n",
            "x.conf",
        )
        .unwrap();
        c.apply_file_text(
            "rename-command flushall \"\"\nrename-command \"config\" \"my config\"\n",
            "y.conf",
        )
        .unwrap();
        let text = c.rewrite_file_text("");
        assert!(!text.contains("replicaof"), "{text}");
        // Renames outlive a CONFIG REWRITE: a restart must not reopen what they closed.
        assert!(
            text.contains("rename-command \"flushall\" \"\"\n"),
            "{text}"
        );
        let mut again = Config::default();
        again.apply_file_text(&text, "rewritten.conf").unwrap();
        let without_origins = |c: &Config| {
            let mut c = c.clone();
            c.origins.clear();
            c.renames.iter_mut().for_each(|r| r.location.clear());
            format!("{c:?}")
        };
        assert_eq!(without_origins(&again), without_origins(&c));
    }

    /// A scratch directory for config files, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let path = std::env::temp_dir()
                .join(format!("roost-config-unit-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn include_applies_nested_files_where_the_line_stands() {
        let dir = Dir::new("include");
        let d = dir.0.display();
        dir.write("secret.conf", "requirepass s3cret\n");
        dir.write(
            "inner/limits.conf",
            &format!("maxclients 50\ninclude {d}/secret.conf\n"),
        );
        let main = dir.write(
            "main.conf",
            &format!("maxclients 10\ntimeout 5\ninclude {d}/inner/limits.conf\ntimeout 7\n"),
        );
        let mut c = Config::default();
        c.apply_file(&main).unwrap();
        assert_eq!(c.requirepass.as_deref(), Some("s3cret"), "nested include");
        assert_eq!(
            c.maxclients, 50,
            "the include overrides the lines before it"
        );
        assert_eq!(c.timeout, 7, "and the lines after it override the include");
        assert_eq!(c.origins["requirepass"], format!("{d}/secret.conf:1"));

        // Wildcards: every match in name order; none is no error (an empty conf.d).
        dir.write("conf.d/b.conf", "timeout 2\n");
        dir.write("conf.d/a.conf", "timeout 1\nmaxclients 3\n");
        dir.write("conf.d/.hidden.conf", "maxclients 4\n");
        let mut c = Config::default();
        c.apply_file_text(
            &format!("include {d}/conf.d/*.conf\ninclude {d}/nothing/*.conf\n"),
            "w.conf",
        )
        .unwrap();
        assert_eq!((c.timeout, c.maxclients), (2, 3));
    }

    #[test]
    fn a_relative_include_is_relative_to_the_working_directory_as_in_redis() {
        // Redis opens an included path as given (fopen), so a relative one is found from
        // the working directory, not from the including file's directory. This test's
        // working directory is the crate root, where no `secret.conf` is.
        let dir = Dir::new("relative");
        dir.write("secret.conf", "requirepass s3cret\n");
        let main = dir.write("main.conf", "include secret.conf\n");
        let err = Config::default().apply_file(&main).unwrap_err();
        assert_eq!(err.directive, "include");
        assert_eq!(
            err.location.as_deref(),
            Some(&*format!("{}:1", main.display()))
        );
        assert!(err.message.contains("'secret.conf'"), "{err}");
        let cwd = std::env::current_dir().unwrap();
        let relative = dir.0.strip_prefix("/").unwrap();
        let up = "../".repeat(cwd.components().count() - 1);
        let main = dir.write(
            "main.conf",
            &format!("include {up}{}/secret.conf\n", relative.display()),
        );
        let mut c = Config::default();
        c.apply_file(&main).unwrap();
        assert_eq!(c.requirepass.as_deref(), Some("s3cret"));
    }

    #[test]
    fn a_missing_include_or_an_include_loop_stops_startup_naming_it() {
        let dir = Dir::new("loop");
        let d = dir.0.display();
        let err = Config::default()
            .apply_file_text(&format!("port 1\ninclude {d}/missing.conf\n"), "m.conf")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "m.conf:2: 'include': can't open config file '{d}/missing.conf': No such file or directory (os error 2)"
            )
        );
        let a = dir.write("a.conf", &format!("include {d}/b.conf\n"));
        dir.write("b.conf", &format!("port 7000\ninclude {d}/a.conf\n"));
        let err = Config::default().apply_file(&a).unwrap_err();
        assert_eq!(err.location.as_deref(), Some(&*format!("{d}/b.conf:2")));
        assert_eq!(
            err.message,
            format!("include loop: {d}/a.conf -> {d}/b.conf -> {d}/a.conf")
        );
        // The same file twice, not nested, is no loop.
        dir.write("c.conf", "timeout 3\n");
        let mut c = Config::default();
        c.apply_file_text(
            &format!("include {d}/c.conf\ninclude {d}/c.conf\n"),
            "twice.conf",
        )
        .unwrap();
        assert_eq!(c.timeout, 3);
        for bad in ["include\n", "include a b\n"] {
            let err = Config::default()
                .apply_file_text(bad, "x.conf")
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "x.conf:1: 'include': Bad directive or wrong number of arguments"
            );
        }
    }

    #[test]
    fn access_rules_roost_lacks_stop_startup_naming_them() {
        let err = Config::default()
            .apply_file_text("port 7000\nloadmodule /usr/lib/redis/auth.so\n", "x.conf")
            .unwrap_err();
        assert!(
            err.to_string().starts_with("x.conf:2: 'loadmodule': "),
            "{err}"
        );
        assert!(err.message.contains("Redis modules"), "{err}");
        // Not a parameter, as in Redis: CONFIG SET and GET do not know it.
        let mut c = Config::default();
        assert_eq!(
            c.apply("loadmodule", &["x".into()]),
            Err(ApplyError::Unknown)
        );
        assert_eq!(c.get("loadmodule"), None);
        // No ACL file is no ACL file.
        let mut c = Config::default();
        c.apply_file_text("aclfile \"\"\n", "x.conf").unwrap();
    }

    #[test]
    fn user_lines_are_kept_in_order_with_their_location() {
        let mut c = Config::default();
        c.apply_file_text(
            "user default off\nuser app on >s3cret \"(~a +get)\"\naclfile /etc/users.acl\n",
            "u.conf",
        )
        .unwrap();
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.users[1].name, "app");
        assert_eq!(c.users[1].rules, ["on", ">s3cret", "(~a +get)"]);
        assert_eq!(c.users[1].location, "u.conf:2");
        // aclfile is shown by CONFIG GET and cannot change at run time, as in Redis.
        assert_eq!(c.get("aclfile").as_deref(), Some("/etc/users.acl"));
        assert!(!Config::is_mutable("aclfile"));
        let err = Config::default()
            .apply_file_text("user\n", "u.conf")
            .unwrap_err();
        assert!(err.to_string().starts_with("u.conf:1: 'user'"), "{err}");
    }

    #[test]
    fn rename_command_lines_are_kept_in_order_for_the_command_table() {
        let mut c = Config::default();
        c.apply_file_text(
            "rename-command FLUSHALL \"\"\nrename-command config my-config\n",
            "r.conf",
        )
        .unwrap();
        let renames: Vec<(&str, &str, &str)> = c
            .renames
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str(), r.location.as_str()))
            .collect();
        assert_eq!(
            renames,
            [
                ("FLUSHALL", "", "r.conf:1"),
                ("config", "my-config", "r.conf:2")
            ]
        );
        for bad in ["rename-command get\n", "rename-command get a b\n"] {
            let err = Config::default()
                .apply_file_text(bad, "x.conf")
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "x.conf:1: 'rename-command': Bad directive or wrong number of arguments"
            );
        }
        // Not a parameter (CONFIG SET cannot rename), but a startup directive, which
        // redis-server also takes as a flag.
        assert_eq!(
            c.apply("rename-command", &["get".into(), "x".into()]),
            Err(ApplyError::Unknown)
        );
        let (flagged, _) = Config::from_args(args(&["--rename-command", "get", "x"])).unwrap();
        assert_eq!(flagged.renames[0].from, "get");
        assert_eq!(flagged.renames[0].to, "x");
        assert_eq!(flagged.renames[0].location, "--rename-command");
    }

    #[test]
    fn directives_accepted_quietly_are_redis_only_ones() {
        for name in NO_EFFECT_HERE {
            assert!(REDIS_ONLY.contains(name), "{name}");
            assert!(Param::find(name).is_none(), "{name}");
        }
        let mut c = Config::default();
        let ignored = c
            .apply_file_text("tcp-backlog 511\nhash-max-ziplist-entries 64\n", "x.conf")
            .unwrap();
        assert!(ignored.is_empty(), "{ignored:?}");
        assert_eq!(c.get("tcp-backlog").unwrap(), "511");
    }

    #[test]
    fn every_directive_is_a_flag_taking_the_words_up_to_the_next_one() {
        let (c, ignored) = Config::from_args(args(&[
            "--save",
            "",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--tcp-backlog",
            "511",
            "--replicaof",
            "10.0.0.1 6380",
            "--maxmemory=10mb",
            "--aof-repair",
        ]))
        .unwrap();
        assert_eq!(c.get("bind").unwrap(), "127.0.0.1 -::1");
        assert_eq!(c.get("replicaof").unwrap(), "10.0.0.1 6380");
        assert_eq!(c.get("maxmemory").unwrap(), "10485760");
        assert_eq!(c.origins["bind"], "--bind");
        assert!(c.aof_repair);
        assert_eq!(c.get("save").unwrap(), "");
        assert!(ignored.is_empty(), "{ignored:?}");
        let (c, _) =
            Config::from_args(args(&["--user", "app", "on", ">pw", "--port", "7000"])).unwrap();
        assert_eq!(c.users[0].rules, ["on", ">pw"]);
        assert_eq!(c.users[0].location, "--user");
        for (flags, error) in [
            (
                &["--no-such-flag", "1"][..],
                "'--no-such-flag': Bad directive",
            ),
            (&["--port", "1", "2"][..], "'--port': "),
            (&["--appendfsync", "sometimes"][..], "'--appendfsync': "),
            (&["--user"][..], "'--user': Bad directive"),
        ] {
            let err = Config::from_args(args(flags)).unwrap_err().to_string();
            assert!(err.starts_with(error), "{flags:?}: {err}");
        }
    }

    #[test]
    fn port_0_with_no_other_listener_stops_startup_naming_it() {
        let err = Config::from_args(args(&["--port", "0"])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("'--port': port 0 turns the TCP listener off"),
            "{err}"
        );
        let dir = Dir::new("port0");
        let conf = dir.write("p.conf", "timeout 1\nport 0\n");
        let err = Config::from_args(args(&[conf.to_str().unwrap()])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: 'port': port 0", conf.display())),
            "{err}"
        );
        // TLS only is a listener.
        let (c, _) = Config::from_args(args(&["--port", "0", "--tls-port", "6380"])).unwrap();
        assert_eq!(c.listener_count(), 1);
        // So is a Unix socket.
        let (c, _) =
            Config::from_args(args(&["--port", "0", "--unixsocket", "/tmp/r.sock"])).unwrap();
        assert_eq!(c.listener_count(), 1);
        // A flag that sets another port overrides the file's 0.
        let (c, _) = Config::from_args(args(&[conf.to_str().unwrap(), "--port", "7001"])).unwrap();
        assert_eq!(c.port, 7001);
    }

    #[test]
    fn config_get_never_shows_a_password() {
        // Redis 7 shows requirepass and masterauth in CONFIG GET; Roost never shows a
        // password that is set, and shows an unset one as empty, as Redis does.
        let mut c = Config::default();
        for secret in [
            "requirepass",
            "masterauth",
            "tls-key-file-pass",
            "tls-client-key-file-pass",
        ] {
            assert_eq!(c.shown(secret).unwrap_or_default(), "", "{secret}");
            c.apply(secret, &["s3cret".into()]).unwrap();
            assert_eq!(c.shown(secret).as_deref(), Some(SECRET_SHOWN), "{secret}");
            // CONFIG REWRITE still writes it.
            assert_eq!(c.get(secret).as_deref(), Some("s3cret"), "{secret}");
        }
        for name in c.names() {
            assert!(!c.shown(&name).unwrap().contains("s3cret"), "{name}");
        }
        let secrets: Vec<&str> = PARAMS.iter().filter(|p| p.secret).map(|p| p.name).collect();
        assert_eq!(
            secrets,
            [
                "requirepass",
                "masterauth",
                "tls-key-file-pass",
                "tls-client-key-file-pass"
            ]
        );
    }
}
