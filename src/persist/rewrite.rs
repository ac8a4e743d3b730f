//! Log rewrite: replace the log with one record per live key, from a point-in-time view
//! of the keyspace, while clients keep writing.
//!
//! Under the exclusive gate (an instant) the journal is told to start a new segment at
//! LSN N and a snapshot of the keyspace as of N begins. The base is then written shard
//! by shard, holding the gate shared only per shard. Writes made meanwhile go to the
//! new segment, so base + segments from N is the whole history. The base is fsynced,
//! renamed into place and the directory fsynced before the old segments are removed.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::aof;
use crate::journal::Mark;
use crate::state::Shared;
use crate::{clock, log};

/// Starts a rewrite on its own thread unless one is running; false if one was.
pub fn start_background(shared: &Arc<Shared>) -> bool {
    if shared
        .persistence
        .rewrites
        .in_progress
        .swap(true, Ordering::AcqRel)
    {
        return false;
    }
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("roost-rewrite".into())
        .spawn(move || {
            let _ = run(&shared);
        })
        .is_ok()
}

/// Runs a rewrite now (SAVE); the caller has set `in_progress`.
pub fn run(shared: &Shared) -> Result<(), String> {
    let started = Instant::now();
    let status = &shared.persistence.rewrites;
    let result = rewrite(shared);
    status
        .last_seconds
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    match &result {
        Ok(size) => {
            status.count.fetch_add(1, Ordering::Relaxed);
            status.last_failed.store(false, Ordering::Relaxed);
            status
                .last_success
                .store(clock::now_ms() / 1000, Ordering::Relaxed);
            log::notice(&format!(
                "Background AOF rewrite finished successfully: base of {size} bytes in {:.3} seconds",
                started.elapsed().as_secs_f64()
            ));
        }
        Err(e) => {
            status.last_failed.store(true, Ordering::Relaxed);
            log::warning(&format!("Background AOF rewrite failed: {e}"));
        }
    }
    status.in_progress.store(false, Ordering::Release);
    result.map(|_| ())
}

fn rewrite(shared: &Shared) -> Result<u64, String> {
    if !shared.journal.is_logging() {
        return Err("the append-only log is off (appendonly no)".into());
    }
    let dir = shared.config().dir.clone();
    let keyspace = &shared.keyspace;
    let _one_snapshot_at_a_time = shared.lock_snapshot();
    let (mark, libraries) = {
        let _gate = keyspace.write_gate();
        keyspace.begin_snapshot();
        (shared.journal.request_rotation(), shared.functions.codes())
    };
    let lsn = mark.next_lsn;
    let temp = aof::base_temp_path(&dir, lsn);
    let written = write_base(shared, &temp, mark, &libraries);
    let consistent = keyspace.end_snapshot();
    let size = match written {
        Ok(size) if consistent => size,
        Ok(_) => {
            let _ = std::fs::remove_file(&temp);
            return Err(
                "FLUSHDB, FLUSHALL or SWAPDB ran during the rewrite; it will be retried".into(),
            );
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("writing {}: {e}", temp.display()));
        }
    };
    if !shared
        .persistence
        .wait_for_segment(lsn, Duration::from_secs(30))
    {
        let _ = std::fs::remove_file(&temp);
        return Err("the log writer did not start the new segment".into());
    }
    aof::install_base(&dir, lsn, &temp).map_err(|e| format!("installing the new base: {e}"))?;
    Ok(size)
}

/// Writes the snapshot begun at `mark` to `path` as a base; returns its size.
fn write_base(
    shared: &Shared,
    path: &std::path::Path,
    mark: Mark,
    libraries: &[bytes::Bytes],
) -> std::io::Result<u64> {
    let mut out = BaseWriter::create(path)?;
    out.push(&aof::header::encode(aof::header::Kind::KeysBase))?;
    let size = aof::encode_keys_base(&shared.keyspace, libraries, mark.db, |chunk| {
        out.push(chunk)
    })?;
    out.finish()?;
    Ok(size)
}

/// Writes a base in large blocks, with direct I/O where the file system takes it
/// (Linux `O_DIRECT`): a gigabyte copied into the page cache costs the kernel more CPU
/// than encoding it, and the base is read back only at the next start. Where direct
/// I/O is refused the blocks go through the page cache, the kernel starting to write
/// each back as it comes (`sync_file_range`) so the final fsync has little left.
struct BaseWriter {
    file: File,
    direct: bool,
    buffer: Aligned,
    filled: usize,
    written: u64,
    /// Under direct I/O, once the first block went through: a thread that writes full
    /// buffers while the next one fills (a direct write waits for the device), and the
    /// buffers it hands back.
    behind: Option<Behind>,
}

struct Behind {
    full: std::sync::mpsc::SyncSender<Aligned>,
    done: std::sync::mpsc::Receiver<(Aligned, std::io::Result<()>)>,
    spare: Option<Aligned>,
    thread: std::thread::JoinHandle<()>,
}

impl Behind {
    fn start(file: &File) -> std::io::Result<Behind> {
        let file = file.try_clone()?;
        let (full, to_write) = std::sync::mpsc::sync_channel::<Aligned>(1);
        let (written, done) = std::sync::mpsc::sync_channel(2);
        let thread = std::thread::Builder::new()
            .name("roost-rewrite-io".into())
            .spawn(move || {
                for mut buffer in to_write {
                    let result = (&file).write_all(buffer.bytes());
                    if written.send((buffer, result)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Behind {
            full,
            done,
            spare: Some(Aligned::new()),
            thread,
        })
    }

    /// Hands `buffer` (full) to the thread, leaving an empty one in its place.
    fn swap(&mut self, buffer: &mut Aligned) -> std::io::Result<()> {
        let stopped = || std::io::Error::other("the base writer thread stopped");
        let empty = match self.spare.take() {
            Some(spare) => spare,
            None => {
                let (empty, result) = self.done.recv().map_err(|_| stopped())?;
                result?;
                empty
            }
        };
        let full = std::mem::replace(buffer, empty);
        self.full.send(full).map_err(|_| stopped())
    }

    /// Waits for every write handed over.
    fn finish(self) -> std::io::Result<()> {
        drop(self.full);
        let mut outcome = Ok(());
        for (_, result) in self.done.iter() {
            if outcome.is_ok() {
                outcome = result;
            }
        }
        let _ = self.thread.join();
        outcome
    }
}

/// Direct I/O wants buffers, offsets and lengths aligned to the device's block size;
/// 4096 covers the usual ones.
const BLOCK: usize = 4096;
const BUFFER: usize = 8 << 20;

struct Aligned(std::ptr::NonNull<u8>);

impl Aligned {
    fn layout() -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(BUFFER, BLOCK).expect("a valid layout")
    }

    fn new() -> Aligned {
        // SAFETY: the layout is not zero-sized.
        let ptr = unsafe { std::alloc::alloc(Aligned::layout()) };
        match std::ptr::NonNull::new(ptr) {
            Some(ptr) => Aligned(ptr),
            None => std::alloc::handle_alloc_error(Aligned::layout()),
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the block is BUFFER bytes long and owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_ptr(), BUFFER) }
    }
}

// SAFETY: the block is owned and only reached through `&mut self`.
unsafe impl Send for Aligned {}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.0.as_ptr(), Aligned::layout()) }
    }
}

impl BaseWriter {
    fn create(path: &std::path::Path) -> std::io::Result<BaseWriter> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(target_os = "linux")]
        let direct = {
            use std::os::unix::fs::OpenOptionsExt;
            let mut direct = options.clone();
            direct.custom_flags(libc::O_DIRECT);
            direct.open(path).ok()
        };
        #[cfg(not(target_os = "linux"))]
        let direct: Option<File> = None;
        let (file, direct) = match direct {
            Some(file) => (file, true),
            None => (options.open(path)?, false),
        };
        Ok(BaseWriter {
            file,
            direct,
            buffer: Aligned::new(),
            filled: 0,
            written: 0,
            behind: None,
        })
    }

    fn push(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let n = (BUFFER - self.filled).min(data.len());
            self.buffer.bytes()[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled < BUFFER {
                continue;
            }
            match &mut self.behind {
                Some(behind) => {
                    behind.swap(&mut self.buffer)?;
                    self.written += BUFFER as u64;
                    self.filled = 0;
                }
                None => {
                    self.write_out(BUFFER)?;
                    if self.direct {
                        self.behind = Some(Behind::start(&self.file)?);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the first `n` buffered bytes (whole blocks under direct I/O) and keeps
    /// the rest at the start of the buffer.
    fn write_out(&mut self, n: usize) -> std::io::Result<()> {
        let result = (&self.file).write_all(&self.buffer.bytes()[..n]);
        if let Err(e) = result {
            // A file system that opened the file for direct I/O may still refuse it
            // on the first write: carry on through the page cache.
            if !(self.direct && self.written == 0 && e.raw_os_error() == Some(libc::EINVAL)) {
                return Err(e);
            }
            self.buffered()?;
            (&self.file).write_all(&self.buffer.bytes()[..n])?;
        }
        if !self.direct {
            start_writeback(&self.file, self.written, n as u64);
        }
        self.written += n as u64;
        self.buffer.bytes().copy_within(n..self.filled, 0);
        self.filled -= n;
        Ok(())
    }

    /// Leaves direct I/O: the last, partial block goes through the page cache.
    fn buffered(&mut self) -> std::io::Result<()> {
        if !self.direct {
            return Ok(());
        }
        self.direct = false;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            // SAFETY: fcntl on an open descriptor.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            // SAFETY: as above.
            if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Writes what is left and fsyncs the file.
    fn finish(mut self) -> std::io::Result<()> {
        if let Some(behind) = self.behind.take() {
            behind.finish()?;
        }
        if self.direct {
            let whole = self.filled / BLOCK * BLOCK;
            if whole > 0 {
                self.write_out(whole)?;
            }
            self.buffered()?;
        }
        if self.filled > 0 {
            self.write_out(self.filled)?;
        }
        self.file.sync_all()
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to the disk
/// without waiting for it (Linux); durability still comes from the final fsync.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; failure only loses the hint.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Starts a rewrite when the log has grown by `auto-aof-rewrite-percentage` over its
/// base and is at least `auto-aof-rewrite-min-size`, as Redis does.
pub async fn auto_rewrite(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if shared.is_shutting_down() {
            return;
        }
        let (enabled, dir, percentage, min_size) = {
            let c = shared.config();
            (
                c.appendonly,
                c.dir.clone(),
                c.auto_aof_rewrite_percentage,
                c.auto_aof_rewrite_min_size,
            )
        };
        if !enabled || percentage == 0 || shared.is_loading() || !shared.journal.is_enabled() {
            continue;
        }
        let (base, incr) = aof::sizes(&dir);
        let total = base + incr;
        if total >= min_size && total.saturating_mul(100) >= base.saturating_mul(100 + percentage) {
            let growth = ((total - base) * 100).checked_div(base).unwrap_or(100);
            log::notice(&format!(
                "Starting automatic rewriting of AOF on {growth}% growth"
            ));
            start_background(&shared);
        }
    }
}
