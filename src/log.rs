//! The server log: Redis's four levels and its line format
//! (`pid:role dd Mon yyyy hh:mm:ss.mmm * message`), written to stderr or to `logfile`,
//! and also to syslog when `syslog-enabled` is on (the message alone: syslog adds its
//! own time, ident and pid), as Redis sends it.

use std::ffi::{c_int, CString};
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// The `logfile`, opened for appending (each line is one write, so lines from threads
/// do not mix); unset = stderr.
static FILE: OnceLock<std::fs::File> = OnceLock::new();

/// Sends the log to the end of `path` from now on.
pub fn to_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let _ = FILE.set(file);
    Ok(())
}

/// The ident given to openlog, once syslog is on: openlog keeps the pointer, so it lives
/// as long as the process.
static SYSLOG_IDENT: OnceLock<CString> = OnceLock::new();

/// The `syslog-facility` names Redis takes, with their codes.
pub const SYSLOG_FACILITIES: [(&str, c_int); 9] = [
    ("user", libc::LOG_USER),
    ("local0", libc::LOG_LOCAL0),
    ("local1", libc::LOG_LOCAL1),
    ("local2", libc::LOG_LOCAL2),
    ("local3", libc::LOG_LOCAL3),
    ("local4", libc::LOG_LOCAL4),
    ("local5", libc::LOG_LOCAL5),
    ("local6", libc::LOG_LOCAL6),
    ("local7", libc::LOG_LOCAL7),
];

/// The code of a `syslog-facility` name (lower case, as the configuration keeps it).
pub fn syslog_facility(name: &str) -> Option<c_int> {
    SYSLOG_FACILITIES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, code)| code)
}

/// Sends every line logged from now on to syslog too, as `ident` with `facility`
/// (Redis's openlog: with the pid, the connection to /dev/log opened now). An ident
/// with a NUL byte cannot be given to syslog and is refused.
pub fn to_syslog(ident: &str, facility: c_int) -> Result<(), String> {
    let ident = CString::new(ident).map_err(|_| "it contains a NUL byte".to_string())?;
    let ident = SYSLOG_IDENT.get_or_init(|| ident);
    // SAFETY: the ident is a NUL-terminated string that lives until the process ends.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            facility,
        )
    };
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "verbose" => Some(Level::Verbose),
            "notice" => Some(Level::Notice),
            "warning" => Some(Level::Warning),
            _ => None,
        }
    }

    /// The syslog severity Redis maps the level to.
    fn severity(self) -> c_int {
        match self {
            Level::Debug => libc::LOG_DEBUG,
            Level::Verbose => libc::LOG_INFO,
            Level::Notice => libc::LOG_NOTICE,
            Level::Warning => libc::LOG_WARNING,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

static THRESHOLD: AtomicU8 = AtomicU8::new(Level::Notice as u8);

/// The role letter of each line: Redis's `M` for a primary, `S` for a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

static ROLE: AtomicU8 = AtomicU8::new(b'M');

pub fn set_role(role: Role) {
    let letter = match role {
        Role::Primary => b'M',
        Role::Replica => b'S',
    };
    ROLE.store(letter, Ordering::Relaxed);
}

pub fn set_level(level: Level) {
    THRESHOLD.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= THRESHOLD.load(Ordering::Relaxed)
}

pub fn write(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(crate::clock::now_ms()),
        level.mark(),
        message
    );
    match FILE.get() {
        Some(mut file) => {
            let _ = file.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
    if SYSLOG_IDENT.get().is_some() {
        let message = CString::new(message.replace('\0', "\\0")).expect("no NUL left");
        // SAFETY: a "%s" format with one NUL-terminated string argument.
        unsafe { libc::syslog(level.severity(), c"%s".as_ptr(), message.as_ptr()) };
    }
}

/// `dd Mon yyyy hh:mm:ss.mmm` in UTC for unix milliseconds.
fn timestamp(ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86400);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        day,
        MONTHS[month as usize - 1],
        year,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        ms % 1000
    )
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01, by Howard Hinnant's
/// algorithm over 400-year eras of 146097 days, with years starting in March.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

pub fn warning(message: &str) {
    write(Level::Warning, message);
}

pub fn notice(message: &str) {
    write(Level::Notice, message);
}

pub fn verbose(message: &str) {
    write(Level::Verbose, message);
}

/// An I/O error as C's strerror prints it ("No such file or directory"), without the
/// " (os error 2)" Rust adds: Redis's messages quote strerror.
pub fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_facilities_and_severities_are_redis_s() {
        assert_eq!(syslog_facility("user"), Some(libc::LOG_USER));
        assert_eq!(syslog_facility("local0"), Some(16 << 3));
        assert_eq!(syslog_facility("local7"), Some(23 << 3));
        for unknown in ["kern", "daemon", "local8", "LOCAL0", ""] {
            assert_eq!(syslog_facility(unknown), None, "{unknown}");
        }
        let severities: Vec<c_int> = [Level::Debug, Level::Verbose, Level::Notice, Level::Warning]
            .iter()
            .map(|l| l.severity())
            .collect();
        assert_eq!(severities, [7, 6, 5, 4]);
        assert_eq!(
            to_syslog("ro\0ost", libc::LOG_USER),
            Err("it contains a NUL byte".to_string())
        );
        assert!(
            SYSLOG_IDENT.get().is_none(),
            "a refused ident opens nothing"
        );
    }

    #[test]
    fn timestamps_are_redis_dates_in_utc() {
        assert_eq!(timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(timestamp(1_796_135_891_123), "01 Dec 2026 14:38:11.123");
        assert_eq!(timestamp(1_798_761_599_999), "31 Dec 2026 23:59:59.999");
        // Leap days: 2000 and 2024 have one, 2100 does not.
        assert_eq!(timestamp(951_782_400_000), "29 Feb 2000 00:00:00.000");
        assert_eq!(timestamp(1_709_251_199_007), "29 Feb 2024 23:59:59.007");
        assert_eq!(timestamp(4_107_542_399_000), "28 Feb 2100 23:59:59.000");
        assert_eq!(timestamp(4_107_542_400_000), "01 Mar 2100 00:00:00.000");
    }
}
