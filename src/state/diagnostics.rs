//! What operators watch a server with: the slow log (SLOWLOG), latency events (LATENCY),
//! per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats) and the
//! clients in MONITOR mode, kept as Redis 7 keeps them.
//!
//! The command path reads the thresholds from atomics here (set from the configuration
//! at startup and by CONFIG SET), never the configuration's lock, and a server without
//! MONITOR clients pays one atomic load for them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::config::Config;
use crate::pubsub::Subscriber;
use crate::sync::Recover;

/// Everything this module keeps for one server.
pub struct Diagnostics {
    pub slowlog: SlowLog,
    pub latency: LatencyMonitor,
    /// Per command-table entry, by `CommandId` (allocated at a command's first call).
    pub histograms: Box<[OnceLock<Histogram>]>,
    /// `latency-tracking`.
    pub tracking: AtomicBool,
    /// `latency-tracking-info-percentiles`.
    pub percentiles: Mutex<Vec<f64>>,
    pub monitors: Monitors,
}

impl Diagnostics {
    pub fn new(config: &Config, commands: usize) -> Diagnostics {
        let diagnostics = Diagnostics {
            slowlog: SlowLog::default(),
            latency: LatencyMonitor::default(),
            histograms: (0..commands).map(|_| OnceLock::new()).collect(),
            tracking: AtomicBool::new(true),
            percentiles: Mutex::new(Vec::new()),
            monitors: Monitors::default(),
        };
        diagnostics.configure(config);
        diagnostics
    }

    /// Takes the thresholds and sizes from `config` (startup, CONFIG SET).
    pub fn configure(&self, config: &Config) {
        self.slowlog
            .slower_than_us
            .store(config.slowlog_log_slower_than, Ordering::Relaxed);
        self.slowlog
            .max_len
            .store(config.slowlog_max_len, Ordering::Relaxed);
        self.slowlog.trim();
        self.latency
            .threshold_ms
            .store(config.latency_monitor_threshold, Ordering::Relaxed);
        self.tracking
            .store(config.latency_tracking, Ordering::Relaxed);
        *self.percentiles.locked() =
            crate::config::percentiles(&config.latency_tracking_info_percentiles);
    }

    /// Records a command's run time in its histogram, under `latency-tracking`.
    pub fn track(&self, command: usize, nanos: u64) {
        if self.tracking.load(Ordering::Relaxed) {
            self.histograms[command]
                .get_or_init(Histogram::default)
                .record(nanos);
        }
    }

    /// CONFIG RESETSTAT: the histograms start again.
    pub fn reset_histograms(&self) {
        for histogram in self.histograms.iter().filter_map(OnceLock::get) {
            histogram.reset();
        }
    }
}

// ---------------------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------------------

/// Redis keeps at most this many arguments of a command in an entry...
pub const SLOWLOG_MAX_ARGS: usize = 32;
/// ...and at most this many bytes of each.
pub const SLOWLOG_MAX_ARG_BYTES: usize = 128;

/// One slow command, as SLOWLOG GET shows it.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time: u64,
    pub micros: u64,
    /// Cut as Redis cuts them (`truncate_args`).
    pub args: Vec<Bytes>,
    /// `ip:port`, or `?:0` for a script's commands.
    pub addr: String,
    pub name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    /// Newest first.
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
    slower_than_us: AtomicI64,
    max_len: AtomicU64,
}

impl SlowLog {
    /// Whether a command that ran `micros` belongs in the log (Redis's
    /// `slowlogPushEntryIfNeeded` test).
    pub fn wants(&self, micros: u64) -> bool {
        let threshold = self.slower_than_us.load(Ordering::Relaxed);
        threshold >= 0 && self.max_len.load(Ordering::Relaxed) > 0 && micros >= threshold as u64
    }

    pub fn push(&self, micros: u64, args: Vec<Bytes>, addr: String, name: Bytes) {
        let mut entries = self.entries.locked();
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: crate::clock::now_ms() / 1000,
            micros,
            args,
            addr,
            name,
        };
        entries.push_front(entry);
        let max = self.max_len.load(Ordering::Relaxed) as usize;
        entries.truncate(max);
    }

    fn trim(&self) {
        let max = self.max_len.load(Ordering::Relaxed) as usize;
        self.entries.locked().truncate(max);
    }

    /// The newest `count` entries (all for `None`), newest first.
    pub fn newest(&self, count: Option<usize>) -> Vec<SlowEntry> {
        let entries = self.entries.locked();
        let n = count.unwrap_or(entries.len()).min(entries.len());
        entries.iter().take(n).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.locked().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET: the entries go; ids keep counting, as in Redis.
    pub fn reset(&self) {
        self.entries.locked().clear();
    }
}

/// A command's arguments as a slow log entry keeps them: at most 32 (the last one
/// saying how many more there were), each at most 128 bytes (saying how many more).
pub fn truncate_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(SLOWLOG_MAX_ARGS);
    (0..kept)
        .map(|i| {
            if kept != args.len() && i == kept - 1 {
                let more = args.len() - SLOWLOG_MAX_ARGS + 1;
                return Bytes::from(format!("... ({more} more arguments)"));
            }
            let arg = &args[i];
            if arg.len() > SLOWLOG_MAX_ARG_BYTES {
                let mut cut = arg[..SLOWLOG_MAX_ARG_BYTES].to_vec();
                let more = arg.len() - SLOWLOG_MAX_ARG_BYTES;
                cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                Bytes::from(cut)
            } else {
                // A copy: the entry outlives the request's read buffer.
                Bytes::copy_from_slice(arg)
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// LATENCY
// ---------------------------------------------------------------------------------------

/// Samples kept per event, as Redis's `LATENCY_TS_LEN`.
pub const LATENCY_SAMPLES: usize = 160;

/// One sample: the second it was taken in and the worst latency in that second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub time: u64,
    pub millis: u64,
}

/// One event's samples, a ring as in Redis.
#[derive(Debug, Clone)]
pub struct Series {
    /// Oldest first.
    pub samples: VecDeque<Sample>,
    /// The worst latency seen since the last reset.
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    /// Whether anything is recorded at all (`latency-monitor-threshold` is not 0).
    pub fn enabled(&self) -> bool {
        self.threshold_ms.load(Ordering::Relaxed) != 0
    }

    /// Records `millis` for `event` if it reaches the threshold (Redis's
    /// `latencyAddSampleIfNeeded`).
    pub fn add_if_needed(&self, event: &'static str, millis: u64) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        if threshold != 0 && millis >= threshold {
            self.add(event, millis, crate::clock::now_ms() / 1000);
        }
    }

    /// Adds a sample taken at unix second `now`; two samples in one second keep the
    /// worst.
    pub fn add(&self, event: &'static str, millis: u64, now: u64) {
        let mut events = self.events.locked();
        let series = events.entry(event).or_insert_with(|| Series {
            samples: VecDeque::with_capacity(LATENCY_SAMPLES),
            max: 0,
        });
        series.max = series.max.max(millis);
        if let Some(last) = series.samples.back_mut() {
            if last.time == now {
                last.millis = last.millis.max(millis);
                return;
            }
        }
        if series.samples.len() == LATENCY_SAMPLES {
            series.samples.pop_front();
        }
        series.samples.push_back(Sample { time: now, millis });
    }

    /// Every event with samples, by name.
    pub fn events(&self) -> Vec<(&'static str, Series)> {
        let events = self.events.locked();
        events.iter().map(|(name, s)| (*name, s.clone())).collect()
    }

    pub fn series(&self, event: &[u8]) -> Option<Series> {
        let events = self.events.locked();
        events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, s)| s.clone())
    }

    /// LATENCY RESET: the events named (all of them for none); how many were reset.
    pub fn reset(&self, names: &[Bytes]) -> usize {
        let mut events = self.events.locked();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|name, _| !names.iter().any(|n| n.as_ref() == name.as_bytes()));
        before - events.len()
    }
}

/// A latency histogram laid out as the HdrHistogram Redis uses (values in
/// nanoseconds from 1 to 1 s, two significant digits), so percentiles and
/// LATENCY HISTOGRAM's buckets come out as Redis reports them.
pub struct Histogram {
    /// No running total beside them: every command would pay a second locked add for
    /// what only LATENCY HISTOGRAM and INFO read (they sum the counts).
    counts: Box<[AtomicU64]>,
}

/// Sub-buckets per bucket: 256 for two significant digits; buckets past the first use
/// their upper half.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: u64 = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (SUB_BUCKET_HALF << 1) - 1;
/// Redis's `LATENCY_HISTOGRAM_MIN_VALUE` and `_MAX_VALUE`.
pub const HISTOGRAM_MIN: u64 = 1;
pub const HISTOGRAM_MAX: u64 = 1_000_000_000;

impl Default for Histogram {
    fn default() -> Histogram {
        let len = Histogram::index(HISTOGRAM_MAX) + 1;
        Histogram {
            counts: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    fn bucket(value: u64) -> u32 {
        let pow2ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
        pow2ceiling - (SUB_BUCKET_HALF_MAGNITUDE + 1)
    }

    fn index(value: u64) -> usize {
        let bucket = Histogram::bucket(value);
        let sub = value >> bucket;
        (((bucket as u64 + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF) as usize
    }

    /// The lowest value counted at `index`.
    fn value_at(index: usize) -> u64 {
        let index = index as u64;
        let mut bucket = (index >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
        let mut sub = (index & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
        if bucket < 0 {
            sub -= SUB_BUCKET_HALF;
            bucket = 0;
        }
        sub << bucket
    }

    /// The highest value counted with `value` (hdr's `highest_equivalent_value`).
    fn highest_equivalent(value: u64) -> u64 {
        let bucket = Histogram::bucket(value);
        let lowest = (value >> bucket) << bucket;
        lowest + (1 << bucket) - 1
    }

    pub fn record(&self, nanos: u64) {
        let value = nanos.clamp(HISTOGRAM_MIN, HISTOGRAM_MAX);
        self.counts[Histogram::index(value)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn reset(&self) {
        for count in self.counts.iter() {
            count.store(0, Ordering::Relaxed);
        }
    }

    /// The value at `percentile` (0-100) in nanoseconds, as hdr's
    /// `hdr_value_at_percentile` gives it.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let total = self.total();
        let wanted = ((percentile.min(100.0) / 100.0 * total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= wanted {
                let value = Histogram::value_at(index);
                return if percentile == 0.0 {
                    value
                } else {
                    Histogram::highest_equivalent(value)
                };
            }
        }
        0
    }

    /// LATENCY HISTOGRAM's buckets: (upper bound in microseconds, calls up to it),
    /// at powers of two from 1024 ns, only where the count grew (Redis's log iteration).
    pub fn log_buckets(&self) -> Vec<(u64, u64)> {
        let mut buckets = Vec::new();
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let (mut limit, mut cumulative, mut previous, mut index) = (1024u64, 0u64, 0u64, 0usize);
        while cumulative < total {
            // Every index whose values are all at or below `limit`.
            while index < counts.len() && Histogram::value_at(index) <= limit {
                cumulative += counts[index];
                index += 1;
            }
            if cumulative > previous {
                buckets.push((limit / 1000, cumulative));
            }
            previous = cumulative;
            limit *= 2;
        }
        buckets
    }
}

// ---------------------------------------------------------------------------------------
// MONITOR
// ---------------------------------------------------------------------------------------

/// The clients in MONITOR mode; each gets every command as a line in its outbox.
#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Subscriber>>>,
}

impl Monitors {
    /// Whether any client monitors: the one check the command path makes.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    pub fn add(&self, subscriber: Arc<Subscriber>) {
        let mut list = self.list.locked();
        if !list.iter().any(|s| s.client_id == subscriber.client_id) {
            list.push(subscriber);
        }
        self.count.store(list.len(), Ordering::Relaxed);
    }

    pub fn remove(&self, client_id: u64) {
        let mut list = self.list.locked();
        list.retain(|s| s.client_id != client_id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_monitor(&self, client_id: u64) -> bool {
        self.any() && self.list.locked().iter().any(|s| s.client_id == client_id)
    }

    /// Sends `line` (a status line's text) to every monitor.
    pub fn feed(&self, line: &str) {
        let reply = crate::protocol::Reply::Simple(line.to_string().into());
        for monitor in self.list.locked().iter() {
            monitor.push(&reply);
        }
    }
}

/// Appends `arg` quoted as Redis's `sdscatrepr` quotes it.
pub fn quote_into(out: &mut String, arg: &[u8]) {
    use std::fmt::Write as _;
    out.push('"');
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_matches_hdr_for_redis_settings() {
        // 1 us recorded as Redis records it (in ns): reported as 1.003 us.
        assert_eq!(Histogram::highest_equivalent(1000), 1003);
        assert_eq!(Histogram::value_at(Histogram::index(1000)), 1000);
        assert_eq!(Histogram::value_at(Histogram::index(255)), 255);
        let h = Histogram::default();
        for _ in 0..99 {
            h.record(1000);
        }
        h.record(1_000_000);
        assert_eq!(h.value_at_percentile(50.0), 1003);
        assert_eq!(h.value_at_percentile(99.0), 1003);
        assert_eq!(h.value_at_percentile(100.0), 1_003_519);
        assert_eq!(h.log_buckets(), vec![(1, 99), (1048, 100)]);
    }

    #[test]
    fn slowlog_arguments_are_cut_as_redis_cuts_them() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let cut = truncate_args(&args);
        assert_eq!(cut.len(), 32);
        assert_eq!(cut[30], "30");
        assert_eq!(cut[31], "... (9 more arguments)");
        let long = truncate_args(&[Bytes::from(vec![b'x'; 130])]);
        assert_eq!(long[0].len(), 128 + "... (2 more bytes)".len());
        assert!(long[0].ends_with(b"... (2 more bytes)"));
    }

    #[test]
    fn latency_keeps_the_worst_sample_per_second() {
        let monitor = LatencyMonitor::default();
        monitor.add("command", 5, 100);
        monitor.add("command", 9, 100);
        monitor.add("command", 3, 101);
        let series = monitor.series(b"command").unwrap();
        assert_eq!(
            series.samples,
            [
                Sample {
                    time: 100,
                    millis: 9
                },
                Sample {
                    time: 101,
                    millis: 3
                }
            ]
        );
        assert_eq!(series.max, 9);
        assert_eq!(monitor.reset(&[]), 1);
    }
}
