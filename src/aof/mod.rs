//! The append-only log: segments on disk, the writer thread with its fsync policies and
//! group commit, and loading the log at startup.
//!
//! Segments live in `<dir>/appendonly/`, each named by the LSN of its first record, and
//! are read in LSN order. The writer appends to the newest. Under `appendfsync always`
//! a client's replies wait until the fsync covering its writes is done; one fsync covers
//! everything queued while the previous one ran (group commit).

pub mod check;
pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::AppendFsync;
use crate::journal::Journal;
use crate::log;
use record::{Reader, Record, Stop};

const SEGMENT_DIR: &str = "appendonly";
const SEGMENT_EXT: &str = "aof";

/// The log's segments in LSN order: (first LSN, path).
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let seg_dir = dir.join(SEGMENT_DIR);
    if !seg_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(&seg_dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        if let Some(lsn) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
        {
            found.push((lsn, path));
        }
    }
    found.sort();
    Ok(found)
}

const BASE_EXT: &str = "base";

/// The newest base (a rewrite's snapshot) and the LSN the segments after it start at.
pub fn newest_base(dir: &Path) -> io::Result<Option<(u64, PathBuf)>> {
    let seg_dir = dir.join(SEGMENT_DIR);
    if !seg_dir.is_dir() {
        return Ok(None);
    }
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in fs::read_dir(&seg_dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(BASE_EXT) {
            continue;
        }
        if let Some(lsn) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        {
            if newest.as_ref().is_none_or(|(n, _)| lsn > *n) {
                newest = Some((lsn, path));
            }
        }
    }
    Ok(newest)
}

/// Where a rewrite writes its base before the atomic switch.
pub fn base_temp_path(dir: &Path, lsn: u64) -> PathBuf {
    dir.join(SEGMENT_DIR)
        .join(format!("{lsn:020}.{BASE_EXT}.tmp"))
}

/// Makes a finished base (fsynced at `temp`) the log's starting point: rename it into
/// place, fsync the directory, then remove what it replaces. A crash at any step leaves
/// either the old log or the new one complete.
pub fn install_base(dir: &Path, lsn: u64, temp: &Path) -> io::Result<()> {
    let seg_dir = dir.join(SEGMENT_DIR);
    let base = seg_dir.join(format!("{lsn:020}.{BASE_EXT}"));
    fs::rename(temp, &base)?;
    sync_dir(&seg_dir)?;
    remove_replaced(dir, lsn)
}

/// Deletes segments and bases older than the base at `lsn`, and stray temp files.
fn remove_replaced(dir: &Path, lsn: u64) -> io::Result<()> {
    for entry in fs::read_dir(dir.join(SEGMENT_DIR))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let first: Option<u64> = name.split('.').next().and_then(|n| n.parse().ok());
        let older = first.is_some_and(|n| n < lsn);
        if name.ends_with(".tmp") || (older && (name.ends_with(".aof") || name.ends_with(".base")))
        {
            fs::remove_file(&path)?;
        }
    }
    sync_dir(&dir.join(SEGMENT_DIR))
}

/// Bytes in the base and in the segments after it.
pub fn sizes(dir: &Path) -> (u64, u64) {
    let len = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let base = newest_base(dir).ok().flatten();
    let base_size = base.as_ref().map_or(0, |(_, p)| len(p));
    let from = base.map_or(0, |(n, _)| n);
    let incr = segments(dir)
        .unwrap_or_default()
        .iter()
        .filter(|(lsn, _)| *lsn >= from)
        .map(|(_, p)| len(p))
        .sum();
    (base_size, incr)
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(SEGMENT_DIR)
        .join(format!("{first_lsn:020}.{SEGMENT_EXT}"))
}

/// A log that cannot be loaded as it is.
#[derive(Debug)]
pub enum LoadError {
    Io(PathBuf, io::Error),
    Corrupt {
        file: PathBuf,
        offset: usize,
        reason: String,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            LoadError::Corrupt {
                file,
                offset,
                reason,
            } => write!(
                f,
                "the log is corrupt in {} at offset {offset} ({reason}); start with --aof-repair \
                 to keep everything before that point, or inspect it with `roost check-aof {}`",
                file.display(),
                file.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// LSN for the next record written.
    pub next_lsn: u64,
    pub records: u64,
    /// Bytes of the log that were read.
    pub bytes: u64,
}

/// Progress of a load, for INFO and the server log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    pub loaded_bytes: u64,
    pub total_bytes: u64,
    pub records: u64,
}

/// Reads every segment in order and hands each record to `apply`. A torn last record is
/// cut off the file with a warning; corruption stops the load unless `repair`, which
/// cuts the log at the damage (dropping any later segments) and keeps what came before.
pub fn load(
    dir: &Path,
    repair: bool,
    mut apply: impl FnMut(&Record),
    mut progress: impl FnMut(Progress),
) -> Result<Loaded, LoadError> {
    let io_error = |e| LoadError::Io(dir.to_path_buf(), e);
    let base = newest_base(dir).map_err(io_error)?;
    if let Some((lsn, _)) = &base {
        // Leftovers of a crash between installing a base and removing what it replaced.
        remove_replaced(dir, *lsn).map_err(io_error)?;
    }
    let segs = segments(dir).map_err(io_error)?;
    let total_bytes: u64 = segs
        .iter()
        .map(|(_, p)| p)
        .chain(base.iter().map(|(_, p)| p))
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut loaded = Loaded {
        next_lsn: segs.first().map_or(1, |(lsn, _)| *lsn),
        ..Loaded::default()
    };
    if let Some((lsn, path)) = &base {
        let data = fs::read(path).map_err(|e| LoadError::Io(path.clone(), e))?;
        let mut reader = Reader::new(&data, Some(1));
        loop {
            match reader.next_record() {
                Ok(Some(record)) => {
                    apply(&record);
                    loaded.records += 1;
                }
                Ok(None) => break,
                // A base is fsynced before it is installed: any damage is corruption.
                Err(Stop::TornTail { offset }) | Err(Stop::Corrupt { offset, .. }) => {
                    return Err(LoadError::Corrupt {
                        file: path.clone(),
                        offset,
                        reason: "damaged base".into(),
                    });
                }
            }
        }
        loaded.bytes += data.len() as u64;
        loaded.next_lsn = *lsn;
    }
    let mut last_report = Instant::now();
    for (index, (first_lsn, path)) in segs.iter().enumerate() {
        let file = File::open(path).map_err(|e| LoadError::Io(path.clone(), e))?;
        let len = file
            .metadata()
            .map_err(|e| LoadError::Io(path.clone(), e))?
            .len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the log files are only appended to by this process's writer,
            // which is not running while the log loads.
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LoadError::Io(path.clone(), e))?)
        };
        let data: &[u8] = map.as_deref().unwrap_or(&[]);
        if *first_lsn != loaded.next_lsn {
            let reason = format!(
                "segment starts at LSN {first_lsn}, expected {}",
                loaded.next_lsn
            );
            return cut_or_fail(&segs[index..], 0, reason, repair, loaded);
        }
        let mut reader = Reader::new(data, Some(*first_lsn));
        loop {
            match reader.next_record() {
                Ok(Some(record)) => {
                    apply(&record);
                    loaded.records += 1;
                    loaded.next_lsn = record.lsn + 1;
                }
                Ok(None) => break,
                Err(Stop::TornTail { offset }) if index + 1 == segs.len() => {
                    log::warning(&format!(
                        "The log ends with an incomplete record in {} at offset {offset} \
                         ({} bytes): a write interrupted by a crash. Dropping it.",
                        path.display(),
                        data.len() - offset
                    ));
                    drop(map);
                    truncate(path, offset as u64).map_err(|e| LoadError::Io(path.clone(), e))?;
                    loaded.bytes += offset as u64;
                    return Ok(loaded);
                }
                Err(Stop::TornTail { offset }) => {
                    let reason = "incomplete record before the last segment".to_string();
                    drop(map);
                    return cut_or_fail(&segs[index..], offset, reason, repair, loaded);
                }
                Err(Stop::Corrupt { offset, reason }) => {
                    drop(map);
                    return cut_or_fail(&segs[index..], offset, reason, repair, loaded);
                }
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = Instant::now();
                progress(Progress {
                    loaded_bytes: loaded.bytes + reader.position() as u64,
                    total_bytes,
                    records: loaded.records,
                });
            }
        }
        loaded.bytes += data.len() as u64;
    }
    progress(Progress {
        loaded_bytes: loaded.bytes,
        total_bytes,
        records: loaded.records,
    });
    Ok(loaded)
}

/// Corruption at `offset` of the first of `rest`: an error, or with `repair` the log is
/// cut there and the later segments removed.
fn cut_or_fail(
    rest: &[(u64, PathBuf)],
    offset: usize,
    reason: String,
    repair: bool,
    loaded: Loaded,
) -> Result<Loaded, LoadError> {
    let file = rest[0].1.clone();
    if !repair {
        return Err(LoadError::Corrupt {
            file,
            offset,
            reason,
        });
    }
    log::warning(&format!(
        "Repairing the log: cutting {} at offset {offset} ({reason}) and removing {} later segment(s)",
        file.display(),
        rest.len() - 1
    ));
    truncate(&file, offset as u64).map_err(|e| LoadError::Io(file.clone(), e))?;
    for (_, later) in &rest[1..] {
        fs::remove_file(later).map_err(|e| LoadError::Io(later.clone(), e))?;
    }
    Ok(loaded)
}

fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The running log: the journal that orders records and the thread that writes them.
pub struct Aof {
    pub journal: Journal,
    policy: Arc<AtomicU8>,
    durable_tx: watch::Sender<u64>,
    durable_rx: watch::Receiver<u64>,
    /// The last write or fsync error, while writes are failing (MISCONF).
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    /// The data directory, once the log is open.
    dir: Mutex<PathBuf>,
    /// First LSN of the segment being written.
    current_segment: std::sync::atomic::AtomicU64,
    pub rewrites: RewriteStatus,
}

/// What INFO persistence and LASTSAVE report about rewrites.
#[derive(Default)]
pub struct RewriteStatus {
    pub in_progress: AtomicBool,
    pub last_failed: AtomicBool,
    pub count: std::sync::atomic::AtomicU64,
    /// Duration of the last rewrite in seconds, -1 before the first.
    pub last_seconds: std::sync::atomic::AtomicI64,
    /// Unix seconds of the last successful rewrite (LASTSAVE), 0 before the first.
    pub last_success: std::sync::atomic::AtomicU64,
}

fn policy_code(p: AppendFsync) -> u8 {
    match p {
        AppendFsync::Always => 0,
        AppendFsync::Everysec => 1,
        AppendFsync::No => 2,
    }
}

impl Aof {
    pub fn new(policy: AppendFsync) -> Aof {
        let (durable_tx, durable_rx) = watch::channel(0);
        Aof {
            journal: Journal::new(1),
            policy: Arc::new(AtomicU8::new(policy_code(policy))),
            durable_tx,
            durable_rx,
            error: Arc::new(Mutex::new(None)),
            stop: Arc::new(AtomicBool::new(false)),
            writer: Mutex::new(None),
            dir: Mutex::new(PathBuf::new()),
            current_segment: std::sync::atomic::AtomicU64::new(0),
            rewrites: RewriteStatus {
                last_seconds: std::sync::atomic::AtomicI64::new(-1),
                ..RewriteStatus::default()
            },
        }
    }

    pub fn set_policy(&self, policy: AppendFsync) {
        self.policy.store(policy_code(policy), Ordering::Relaxed);
    }

    fn waits_for_fsync(&self) -> bool {
        self.policy.load(Ordering::Relaxed) == 0
    }

    /// The write error that makes Roost refuse writes, if any.
    pub fn write_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Opens the newest segment (creating the first) and starts writing at `next_lsn`.
    pub fn start(self: &Arc<Self>, dir: &Path, next_lsn: u64) -> io::Result<()> {
        let seg_dir = dir.join(SEGMENT_DIR);
        fs::create_dir_all(&seg_dir)?;
        let (first, path) = match segments(dir)?.pop() {
            Some(newest) => newest,
            None => {
                let path = segment_path(dir, next_lsn);
                File::create(&path)?.sync_all()?;
                sync_dir(&seg_dir)?;
                (next_lsn, path)
            }
        };
        self.current_segment.store(first, Ordering::Release);
        let file = OpenOptions::new().append(true).open(&path)?;
        *self.dir.lock().unwrap_or_else(|e| e.into_inner()) = dir.to_path_buf();
        let _ = self.durable_tx.send(next_lsn.saturating_sub(1));
        self.journal.enable(next_lsn, true);
        let aof = self.clone();
        let handle = thread::Builder::new()
            .name("roost-aof".into())
            .spawn(move || aof.write_loop(file, path))?;
        *self.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    fn write_loop(&self, mut file: File, mut path: PathBuf) {
        let mut good_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut unwritten: Vec<u8> = Vec::new();
        let mut unwritten_lsn = 0;
        // (first LSN of the next segment, offset in `unwritten` where it begins)
        let mut rotation: Option<(u64, usize)> = None;
        let mut written_lsn = *self.durable_rx.borrow();
        let mut synced_lsn = written_lsn;
        let mut last_sync = Instant::now();
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            let taken = self.journal.take(Duration::from_millis(50));
            if let Some((lsn, offset)) = taken.rotation {
                rotation = Some((lsn, unwritten.len() + offset));
            }
            if !taken.bytes.is_empty() {
                unwritten.extend_from_slice(&taken.bytes);
                unwritten_lsn = taken.last_lsn;
            }
            // Records for the current segment: up to a pending rotation, or all.
            let upto = rotation.map_or(unwritten.len(), |(_, offset)| offset);
            if upto > 0 {
                if let Err(e) = file.write_all(&unwritten[..upto]) {
                    // Cut any partial record so the next attempt appends cleanly.
                    let _ = file.set_len(good_len);
                    self.report_error(&path, "write", &e);
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
                good_len += upto as u64;
                unwritten.drain(..upto);
                written_lsn = match rotation {
                    Some((lsn, _)) => lsn - 1,
                    None => unwritten_lsn,
                };
                self.clear_error();
            }
            if let Some((lsn, _)) = rotation {
                match self.rotate(&file, lsn) {
                    Ok((next_file, next_path)) => {
                        self.current_segment.store(lsn, Ordering::Release);
                        synced_lsn = written_lsn;
                        file = next_file;
                        path = next_path;
                        good_len = 0;
                        rotation = None;
                        self.clear_error();
                        continue;
                    }
                    Err(e) => {
                        rotation = Some((lsn, 0));
                        self.report_error(&path, "rotat", &e);
                        thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
            let policy = self.policy.load(Ordering::Relaxed);
            let due = match policy {
                0 => written_lsn > synced_lsn,
                1 => written_lsn > synced_lsn && last_sync.elapsed() >= Duration::from_secs(1),
                _ => false,
            } || (stopping && written_lsn > synced_lsn);
            if due {
                match file.sync_data() {
                    Ok(()) => {
                        synced_lsn = written_lsn;
                        last_sync = Instant::now();
                    }
                    Err(e) => {
                        self.report_error(&path, "fsync", &e);
                        thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
            let visible = if policy == 0 { synced_lsn } else { written_lsn };
            if *self.durable_rx.borrow() != visible {
                let _ = self.durable_tx.send(visible);
            }
            if stopping && unwritten.is_empty() && written_lsn == synced_lsn {
                let rest = self.journal.take(Duration::ZERO);
                if rest.bytes.is_empty() && rest.rotation.is_none() {
                    return;
                }
                if let Some((lsn, offset)) = rest.rotation {
                    rotation = Some((lsn, offset));
                }
                unwritten.extend_from_slice(&rest.bytes);
                unwritten_lsn = rest.last_lsn;
            }
        }
    }

    /// Finishes the current segment (fsync) and creates the next, starting at `lsn`.
    fn rotate(&self, current: &File, lsn: u64) -> io::Result<(File, PathBuf)> {
        current.sync_data()?;
        let dir = self.dir.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let path = segment_path(&dir, lsn);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.sync_all()?;
        sync_dir(&dir.join(SEGMENT_DIR))?;
        Ok((file, path))
    }

    fn report_error(&self, path: &Path, what: &str, e: &io::Error) {
        let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if error.is_none() {
            log::warning(&format!(
                "Error {what}ing the log {}: {e}. Refusing writes until it can be written.",
                path.display()
            ));
        }
        *error = Some(e.to_string());
    }

    fn clear_error(&self) {
        let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if error.take().is_some() {
            log::warning("The log can be written again; accepting writes.");
        }
    }

    /// Waits (up to `timeout`) until the writer has started the segment beginning at
    /// `lsn`; a rewrite may only remove older segments after that.
    pub fn wait_for_segment(&self, lsn: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.current_segment.load(Ordering::Acquire) < lsn {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Waits until the record `lsn` is durable, when the policy asks replies to wait.
    pub async fn wait_durable(&self, lsn: u64) {
        if !self.waits_for_fsync() {
            return;
        }
        let mut rx = self.durable_rx.clone();
        let _ = rx.wait_for(|durable| *durable >= lsn).await;
    }

    /// A replica's full sync: the log becomes the snapshot received (fsynced at
    /// `temp`) as a base at `lsn`, with an empty segment after it. Called with the
    /// keyspace gate held exclusively, so nothing is written meanwhile. A crash part way
    /// leaves a log the replica loads and then resynchronises from in full.
    pub fn restart_with_base(
        self: &Arc<Self>,
        dir: &Path,
        lsn: u64,
        temp: &Path,
    ) -> io::Result<()> {
        self.shutdown();
        let seg_dir = dir.join(SEGMENT_DIR);
        for entry in fs::read_dir(&seg_dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".aof") || name.ends_with(".base") {
                fs::remove_file(&path)?;
            }
        }
        sync_dir(&seg_dir)?;
        let base = seg_dir.join(format!("{lsn:020}.{BASE_EXT}"));
        fs::rename(temp, &base)?;
        sync_dir(&seg_dir)?;
        self.stop.store(false, Ordering::Release);
        self.start(dir, lsn)
    }

    /// Writes and fsyncs everything queued, then stops the writer (clean shutdown).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.journal.wake();
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}
