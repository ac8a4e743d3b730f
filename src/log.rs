//! The server log: Redis's four levels and its line format
//! (`pid:role dd Mon yyyy hh:mm:ss.mmm * message`), written to stderr.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

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
    let ms = crate::clock::now_ms();
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let line = format!(
        "{}:M {:02}:{:02}:{:02}.{:03} {} {}\n",
        std::process::id(),
        h,
        m,
        s,
        ms % 1000,
        level.mark(),
        message
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
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
