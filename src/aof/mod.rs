//! The append-only log on disk: the record format (`record`), the header every file
//! starts with (`header`), the segment and base files and how they are named,
//! installed and read back in order (`load`), and the offline checker (`check`).
//!
//! Segments live in `<dir>/appendonly/`, each named by the LSN of its first record, and
//! are read in LSN order; a rewrite leaves a base named by the LSN the segments after it
//! start at. This module knows files and bytes only: the writer thread that appends to
//! the newest segment is in `persist`, above the commands whose records it writes.

pub mod check;
pub mod header;
pub mod keys;
pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::log;
use header::Kind;
use record::{Reader, Record, Stop};

const SEGMENT_DIR: &str = "appendonly";
const SEGMENT_EXT: &str = "aof";

/// The directory of the log's files under the data directory `dir`.
pub fn log_dir(dir: &Path) -> PathBuf {
    dir.join(SEGMENT_DIR)
}

/// The log's segments in LSN order: (first LSN, path).
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let seg_dir = log_dir(dir);
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
    let seg_dir = log_dir(dir);
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
    log_dir(dir).join(format!("{lsn:020}.{BASE_EXT}.tmp"))
}

/// Makes a finished base (fsynced at `temp`) the log's starting point: rename it into
/// place, fsync the directory, then remove what it replaces. A crash at any step leaves
/// either the old log or the new one complete.
pub fn install_base(dir: &Path, lsn: u64, temp: &Path) -> io::Result<()> {
    let seg_dir = log_dir(dir);
    let base = seg_dir.join(format!("{lsn:020}.{BASE_EXT}"));
    fs::rename(temp, &base)?;
    sync_dir(&seg_dir)?;
    remove_replaced(dir, lsn)
}

/// Deletes segments and bases older than the base at `lsn`, and stray temp files.
fn remove_replaced(dir: &Path, lsn: u64) -> io::Result<()> {
    for entry in fs::read_dir(log_dir(dir))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let first: Option<u64> = name.split('.').next().and_then(|n| n.parse().ok());
        let older = first.is_some_and(|n| n < lsn);
        if name.ends_with(".tmp") || (older && (name.ends_with(".aof") || name.ends_with(".base")))
        {
            fs::remove_file(&path)?;
        }
    }
    sync_dir(&log_dir(dir))
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
    log_dir(dir).join(format!("{first_lsn:020}.{SEGMENT_EXT}"))
}

/// A log that cannot be loaded as it is.
#[derive(Debug)]
pub enum LoadError {
    Io(PathBuf, io::Error),
    /// A file that is not a log this Roost can read (foreign, or a newer format).
    Unreadable(String),
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
            LoadError::Unreadable(what) => write!(f, "{what}; refusing to load the log"),
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

/// How `load` treats damage.
#[derive(Debug, Clone, Copy)]
pub struct LoadPolicy {
    /// `--aof-repair`: cut the log at corruption (dropping any later segments) and keep
    /// what came before, instead of stopping.
    pub repair: bool,
    /// `aof-load-truncated`: a torn last record (a crash mid-write) is cut off with a
    /// warning, instead of stopping.
    pub truncated_tail_ok: bool,
}

/// What loading hands the log's contents to.
pub trait Apply {
    /// A command record (of a segment, or of a base).
    fn record(&mut self, record: &Record);
    /// A keys base's database switch, with how many keys follow (a hint, 0 if unknown);
    /// an error if this server cannot hold it.
    fn select(&mut self, db: usize, keys: u64) -> Result<(), String>;
    /// A keys base's string key, in the database last selected.
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<u64>);
}

/// Reads the base, then every segment in order, handing what they hold to `apply`. A
/// torn last record and corruption are handled as `policy` says.
pub fn load(
    dir: &Path,
    policy: LoadPolicy,
    apply: &mut impl Apply,
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
    let mut last_report = Instant::now();
    if let Some((lsn, path)) = &base {
        let map = map_file(path, true)?;
        let data: &[u8] = map.as_deref().unwrap_or(&[]);
        let format =
            header::read(data, Kind::Base, Some(1), path).map_err(LoadError::Unreadable)?;
        // A base is fsynced before it is installed: any damage is corruption.
        let damaged = |stop: Stop| {
            let (offset, reason) = match stop {
                Stop::TornTail { offset } => (
                    offset,
                    "damaged base: a record runs past the end of the file".to_string(),
                ),
                Stop::Corrupt { offset, reason } => (offset, format!("damaged base: {reason}")),
            };
            LoadError::Corrupt {
                file: path.clone(),
                offset,
                reason,
            }
        };
        let mut report = |position: usize, records: u64| {
            if records % 4096 == 0 && last_report.elapsed() >= Duration::from_millis(250) {
                last_report = Instant::now();
                progress(Progress {
                    loaded_bytes: position as u64,
                    total_bytes,
                    records,
                });
            }
        };
        if format.kind == Kind::KeysBase {
            let mut reader = keys::Reader::at(data, format.records_at);
            loop {
                let offset = reader.position();
                match reader.next_item() {
                    Ok(Some(keys::Item::Str {
                        key,
                        value,
                        expire_at,
                    })) => apply.string(key, value, expire_at),
                    Ok(Some(keys::Item::Select { db, keys })) => apply
                        .select(db, keys)
                        .map_err(|e| LoadError::Unreadable(format!("{}: {e}", path.display())))?,
                    Ok(Some(keys::Item::Command(args))) => apply.record(&Record {
                        lsn: loaded.records + 1,
                        args,
                        offset,
                    }),
                    Ok(None) => break,
                    Err(stop) => return Err(damaged(stop)),
                }
                loaded.records += 1;
                report(reader.position(), loaded.records);
            }
        } else {
            let mut reader = Reader::at(data, format.records_at, Some(1));
            loop {
                match reader.next_record() {
                    Ok(Some(record)) => apply.record(&record),
                    Ok(None) => break,
                    Err(stop) => return Err(damaged(stop)),
                }
                loaded.records += 1;
                report(reader.position(), loaded.records);
            }
        }
        loaded.bytes += data.len() as u64;
        loaded.next_lsn = *lsn;
    }
    for (index, (first_lsn, path)) in segs.iter().enumerate() {
        let map = map_file(path, false)?;
        let data: &[u8] = map.as_deref().unwrap_or(&[]);
        if *first_lsn != loaded.next_lsn {
            let reason = format!(
                "segment starts at LSN {first_lsn}, expected {}",
                loaded.next_lsn
            );
            return cut_or_fail(&segs[index..], 0, reason, policy.repair, loaded);
        }
        let format = header::read(data, Kind::Segment, Some(*first_lsn), path)
            .map_err(LoadError::Unreadable)?;
        let mut reader = Reader::at(data, format.records_at, Some(*first_lsn));
        loop {
            match reader.next_record() {
                Ok(Some(record)) => {
                    apply.record(&record);
                    loaded.records += 1;
                    loaded.next_lsn = record.lsn + 1;
                }
                Ok(None) => break,
                Err(Stop::TornTail { offset })
                    if index + 1 == segs.len() && !policy.truncated_tail_ok && !policy.repair =>
                {
                    return Err(LoadError::Corrupt {
                        file: path.clone(),
                        offset,
                        reason: "the last record was cut short, and aof-load-truncated is no"
                            .into(),
                    });
                }
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
                    return cut_or_fail(&segs[index..], offset, reason, policy.repair, loaded);
                }
                Err(Stop::Corrupt { offset, reason }) => {
                    drop(map);
                    return cut_or_fail(&segs[index..], offset, reason, policy.repair, loaded);
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

/// The commands a base's contents (`data`, of the file `path`) stand for, in order, of
/// either kind of base (for tools and tests; loading does not build them).
pub fn base_commands(data: &[u8], path: &Path) -> Result<Vec<Vec<bytes::Bytes>>, String> {
    let format = header::read(data, Kind::Base, Some(1), path)?;
    let mut commands = Vec::new();
    let damaged = |stop: Stop| format!("{} is damaged: {stop:?}", path.display());
    if format.kind == Kind::KeysBase {
        let mut reader = keys::Reader::at(data, format.records_at);
        while let Some(item) = reader.next_item().map_err(damaged)? {
            commands.push(item.to_command());
        }
    } else {
        let mut reader = Reader::at(data, format.records_at, Some(1));
        while let Some(record) = reader.next_record().map_err(damaged)? {
            commands.push(record.args);
        }
    }
    Ok(commands)
}

/// The file at `path` mapped into memory (`None` when empty), read ahead in full when
/// `whole` (a base is read from start to end at once).
fn map_file(path: &Path, whole: bool) -> Result<Option<memmap2::Mmap>, LoadError> {
    let io_error = |e| LoadError::Io(path.to_path_buf(), e);
    let file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the log files are only written by this process (its writer, a rewrite),
    // neither of which runs while the log loads.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    if whole {
        // Read the whole file ahead while the first pages are processed.
        let _ = map.advise(memmap2::Advice::WillNeed);
    }
    Ok(Some(map))
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

/// Opens the newest segment for appending, creating the first (starting at `next_lsn`)
/// if there is none; returns its first LSN, path and file.
pub fn open_newest_segment(dir: &Path, next_lsn: u64) -> io::Result<(u64, PathBuf, File)> {
    let seg_dir = log_dir(dir);
    fs::create_dir_all(&seg_dir)?;
    let Some((first, path)) = segments(dir)?.pop() else {
        let (file, path) = create_segment(dir, next_lsn)?;
        return Ok((next_lsn, path, file));
    };
    let file = OpenOptions::new().append(true).open(&path)?;
    if file.metadata()?.len() < header::LEN as u64 {
        // Empty, or cut inside its header by a crash while it was created (loading
        // checked it holds nothing else): it starts again with a whole header.
        file.set_len(0)?;
        (&file).write_all(&header::encode(Kind::Segment))?;
        file.sync_all()?;
    }
    // A segment written before headers (version 0) is appended to as it is: the
    // records are the same.
    Ok((first, path, file))
}

/// Creates (durably) the segment that starts at `lsn`, with its header.
pub fn create_segment(dir: &Path, lsn: u64) -> io::Result<(File, PathBuf)> {
    let path = segment_path(dir, lsn);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    if file.metadata()?.len() == 0 {
        (&file).write_all(&header::encode(Kind::Segment))?;
    }
    file.sync_all()?;
    sync_dir(&log_dir(dir))?;
    Ok((file, path))
}

/// A replica's full sync: the whole log becomes the snapshot received (fsynced at
/// `temp`) as a base at `lsn`. A crash part way leaves a log the replica loads and then
/// resynchronises from in full.
pub fn replace_with_base(dir: &Path, lsn: u64, temp: &Path) -> io::Result<()> {
    let seg_dir = log_dir(dir);
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
    sync_dir(&seg_dir)
}

/// What a snapshot's encoder has written, handed to `sink` in chunks of about `chunk`
/// bytes (cut between shards).
struct Chunks<F> {
    out: Vec<u8>,
    chunk: usize,
    size: u64,
    sink: F,
}

impl<F: FnMut(&[u8]) -> io::Result<()>> Chunks<F> {
    fn new(chunk: usize, sink: F) -> Chunks<F> {
        Chunks {
            out: Vec::with_capacity(chunk + (1 << 20)),
            chunk,
            size: 0,
            sink,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        (self.sink)(&self.out)?;
        self.size += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    fn shard_done(&mut self) -> io::Result<()> {
        if self.out.len() >= self.chunk {
            self.flush()?;
        }
        Ok(())
    }
}

/// Feeds `encoder` the function libraries (one `FUNCTION LOAD REPLACE` each), then the
/// keyspace snapshot begun earlier; returns the size written.
fn encode_with<F, E>(
    keyspace: &crate::store::Keyspace,
    libraries: &[bytes::Bytes],
    final_db: Option<usize>,
    encoder: &mut E,
    chunks: impl Fn(&mut E) -> &mut Chunks<F>,
) -> io::Result<u64>
where
    F: FnMut(&[u8]) -> io::Result<()>,
    E: crate::store::DumpSink,
{
    for code in libraries {
        encoder.command(&[b"FUNCTION", b"LOAD", b"REPLACE", code]);
    }
    keyspace.dump_snapshot(final_db, encoder)?;
    let chunks = chunks(encoder);
    chunks.flush()?;
    Ok(chunks.size)
}

/// Writes the function libraries, then the keyspace snapshot begun earlier, as a base of
/// key records (`keys`), without its header, in chunks of a few megabytes; returns its
/// size. A rewrite's base is this.
pub fn encode_keys_base(
    keyspace: &crate::store::Keyspace,
    libraries: &[bytes::Bytes],
    final_db: Option<usize>,
    sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    struct Keys<F>(Chunks<F>);
    impl<F: FnMut(&[u8]) -> io::Result<()>> crate::store::DumpSink for Keys<F> {
        fn command(&mut self, args: &[&[u8]]) {
            keys::encode_command(args, &mut self.0.out);
        }
        fn select(&mut self, db: usize, keys: usize) {
            keys::encode_select(db, keys as u64, &mut self.0.out);
        }
        fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<u64>) {
            keys::encode_string(key, value, expire_at, &mut self.0.out);
        }
        fn shard_done(&mut self) -> io::Result<()> {
            self.0.shard_done()
        }
    }
    let mut keys = Keys(Chunks::new(4 << 20, sink));
    encode_with(keyspace, libraries, final_db, &mut keys, |k| &mut k.0)
}

/// Writes the function libraries (one `FUNCTION LOAD REPLACE` each), then the keyspace
/// snapshot begun at `mark`, as records numbered from 1, in chunks of
/// about a megabyte; returns its size. A rewrite's base and a full sync are this.
pub fn encode_snapshot(
    keyspace: &crate::store::Keyspace,
    libraries: &[bytes::Bytes],
    final_db: Option<usize>,
    sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    struct Records<F> {
        chunks: Chunks<F>,
        lsn: u64,
    }
    impl<F: FnMut(&[u8]) -> io::Result<()>> crate::store::DumpSink for Records<F> {
        fn command(&mut self, args: &[&[u8]]) {
            record::encode(self.lsn, args, &mut self.chunks.out);
            self.lsn += 1;
        }
        fn shard_done(&mut self) -> io::Result<()> {
            self.chunks.shard_done()
        }
    }
    let mut records = Records {
        chunks: Chunks::new(1 << 20, sink),
        lsn: 1,
    };
    encode_with(keyspace, libraries, final_db, &mut records, |r| {
        &mut r.chunks
    })
}
