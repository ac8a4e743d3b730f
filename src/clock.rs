//! Wall-clock time in unix milliseconds, the unit every TTL is stored in.
//!
//! Tests of time-dependent semantics (expiry, idle time) hold a `ManualClock`: on the
//! thread that holds it, `now_ms` and `now_us` read the clock's time, which moves only
//! when the test advances it, so a test waits for nothing. Commands run synchronously
//! on the caller's thread, so a test that drives them in process sees every TTL check
//! against its own clock; other threads keep the system's time.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Threads holding a manual clock; while 0, reading the time costs one relaxed load
/// more than the system call.
static MANUAL_CLOCKS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's manual time in microseconds, when it holds a `ManualClock`.
    static MANUAL_US: Cell<Option<u64>> = const { Cell::new(None) };
}

thread_local! {
    /// Inside `frozen`: the time its first `now_ms` read (`UNREAD` before that);
    /// `THAWED` outside.
    static FROZEN_MS: Cell<u64> = const { Cell::new(THAWED) };
}
const THAWED: u64 = u64::MAX;
const UNREAD: u64 = u64::MAX - 1;

/// Milliseconds since the unix epoch; inside `frozen`, the same value each time.
pub fn now_ms() -> u64 {
    FROZEN_MS.with(|frozen| match frozen.get() {
        THAWED => now_us() / 1000,
        UNREAD => {
            let now = now_us() / 1000;
            frozen.set(now);
            now
        }
        now => now,
    })
}

/// Runs `f` with `now_ms` frozen at its first reading, as Redis 7 samples the time
/// once per command (and once for a whole script or transaction: a nested `frozen`
/// keeps the outer time). A command that looks a key up, reads it and touches it then
/// reads the clock once, not three times (a `clock_gettime` costs about 25 ns here).
pub fn frozen<R>(f: impl FnOnce() -> R) -> R {
    struct Thaw;
    impl Drop for Thaw {
        fn drop(&mut self) {
            FROZEN_MS.with(|frozen| frozen.set(THAWED));
        }
    }
    if FROZEN_MS.with(|frozen| frozen.get()) != THAWED {
        return f();
    }
    FROZEN_MS.with(|frozen| frozen.set(UNREAD));
    let _thaw = Thaw;
    f()
}

/// Microseconds since the unix epoch.
pub fn now_us() -> u64 {
    if MANUAL_CLOCKS.load(Ordering::Relaxed) > 0 {
        if let Some(us) = MANUAL_US.with(Cell::get) {
            return us;
        }
    }
    let (secs, nanos) = read(libc::CLOCK_REALTIME);
    secs * 1_000_000 + nanos / 1000
}

/// The time as of the last `Ticker::tick`, while a ticker runs (`TICKERS`).
static TICKED_MS: AtomicU64 = AtomicU64::new(0);
static TICKERS: AtomicUsize = AtomicUsize::new(0);

/// Milliseconds since the unix epoch, as of the server's last tick (at most its period
/// old), for stamps that count in seconds: an entry's last access, a client's last
/// command. Reading an atomic instead of the clock on every request is what Redis's
/// cached `lruclock` and `unixtime` do. Without a running ticker (or with a manual
/// clock held anywhere) it is `now_ms`.
pub fn coarse_ms() -> u64 {
    if TICKERS.load(Ordering::Relaxed) > 0 && MANUAL_CLOCKS.load(Ordering::Relaxed) == 0 {
        TICKED_MS.load(Ordering::Relaxed)
    } else {
        now_ms()
    }
}

/// Keeps `coarse_ms` current while it lives: its owner calls `tick` periodically.
pub struct Ticker {
    _private: (),
}

impl Ticker {
    pub fn start() -> Ticker {
        TICKED_MS.store(now_ms(), Ordering::Relaxed);
        TICKERS.fetch_add(1, Ordering::Relaxed);
        Ticker { _private: () }
    }

    pub fn tick(&self) {
        TICKED_MS.store(now_ms(), Ordering::Relaxed);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        TICKERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Nanoseconds on a clock that never goes back, for measuring how long something took
/// (a command's run time). Read per request, so taken straight from `clock_gettime`
/// without `Instant`'s checked arithmetic.
#[inline]
pub fn monotonic_ns() -> u64 {
    let (secs, nanos) = read(libc::CLOCK_MONOTONIC);
    secs * 1_000_000_000 + nanos
}

/// Seconds and nanoseconds of `clock` (both clocks always exist on Linux).
#[inline]
fn read(clock: libc::clockid_t) -> (u64, u64) {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(clock, &mut now) };
    (now.tv_sec.max(0) as u64, now.tv_nsec as u64)
}

/// A clock that stands still until told to move, for this thread only (see the module
/// docs). Dropping it gives the thread the system's time back.
pub struct ManualClock {
    /// Bound to the thread whose time it sets.
    _not_send: PhantomData<*const ()>,
}

impl ManualClock {
    /// Starts this thread's time at the system's time now.
    pub fn start() -> ManualClock {
        let now = now_us();
        MANUAL_US.with(|t| t.set(Some(now)));
        MANUAL_CLOCKS.fetch_add(1, Ordering::Relaxed);
        ManualClock {
            _not_send: PhantomData,
        }
    }

    pub fn advance_ms(&self, ms: u64) {
        MANUAL_US.with(|t| t.set(t.get().map(|us| us + ms * 1000)));
    }

    pub fn now_ms(&self) -> u64 {
        now_ms()
    }
}

impl Drop for ManualClock {
    fn drop(&mut self) {
        MANUAL_US.with(|t| t.set(None));
        MANUAL_CLOCKS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sleeps until the unix time `deadline_ms`, or forever if there is none (a `select!`
/// branch for an optional deadline).
pub async fn sleep_until_ms(deadline_ms: Option<u64>) {
    match deadline_ms {
        Some(at) => {
            let wait = at.saturating_sub(now_ms());
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_only_on_its_thread() {
        let clock = ManualClock::start();
        let start = now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(now_ms(), start);
        clock.advance_ms(1500);
        assert_eq!(now_ms(), start + 1500);
        let elsewhere = std::thread::spawn(now_ms).join().unwrap();
        assert!(elsewhere < start + 1500);
        drop(clock);
        assert!(now_ms() < start + 1500);
    }

    #[test]
    fn the_coarse_clock_stands_between_ticks() {
        let ticker = Ticker::start();
        let ticked = coarse_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Another test's ticker may tick meanwhile, or its manual clock bypass ours.
        if MANUAL_CLOCKS.load(Ordering::Relaxed) == 0 && TICKERS.load(Ordering::Relaxed) == 1 {
            assert_eq!(coarse_ms(), ticked);
        }
        ticker.tick();
        assert!(coarse_ms() >= ticked + 20);
        drop(ticker);
        assert!(coarse_ms() >= ticked + 20);
    }

    #[test]
    fn frozen_time_is_read_once_and_thaws_after() {
        let clock = ManualClock::start();
        let start = now_ms();
        let (first, later, nested) = frozen(|| {
            let first = now_ms();
            clock.advance_ms(10);
            let nested = frozen(|| {
                clock.advance_ms(10);
                now_ms()
            });
            (first, now_ms(), nested)
        });
        assert_eq!((first, later, nested), (start, start, start));
        assert_eq!(now_ms(), start + 20);
        // Frozen at the first reading, not at entry.
        let first = frozen(|| {
            clock.advance_ms(5);
            now_ms()
        });
        assert_eq!(first, start + 25);
    }
}
