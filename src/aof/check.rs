//! `roost check-aof [--fix] FILE`: what a log segment holds, and where it is damaged.
//! With `--fix`, the file is cut at the first bad record, keeping everything before it
//! (what `--aof-repair` does at startup). A file that is not a Roost log, or of a
//! newer format, is reported and never cut.

use std::collections::BTreeMap;
use std::path::Path;

use super::header::{self, Kind};
use super::keys;
use super::record::{Reader, Stop};

/// The outcome of checking one segment.
pub struct Report {
    pub text: String,
    /// The file holds only valid records (possibly after fixing it).
    pub valid: bool,
}

pub fn check(path: &Path, fix: bool) -> std::io::Result<Report> {
    let data = std::fs::read(path)?;
    // A segment is named by its first LSN; a base numbers its records from 1.
    let is_base = path.extension().is_some_and(|e| e == "base");
    let first_lsn = if is_base {
        Some(1)
    } else {
        path.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
    };
    let kind = if is_base { Kind::Base } else { Kind::Segment };
    let format = match header::read(&data, kind, first_lsn, path) {
        Ok(format) => format,
        Err(what) => {
            // Not a file this tool understands: it is never cut, even with --fix.
            let text = format!("{what}.\nThe file was left as it is.\n");
            return Ok(Report { text, valid: false });
        }
    };
    let mut records = 0u64;
    let mut lsns = None;
    let mut commands: BTreeMap<String, u64> = BTreeMap::new();
    let stop = if format.kind == Kind::KeysBase {
        // A base of key records (format version 2): no LSNs; strings counted as such.
        let mut reader = keys::Reader::at(&data, format.records_at);
        loop {
            let name = match reader.next_item() {
                Ok(Some(keys::Item::Select { .. })) => "SELECT".to_string(),
                Ok(Some(keys::Item::Str { .. })) => "(string key)".to_string(),
                Ok(Some(keys::Item::Command(args))) => {
                    String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
                }
                Ok(None) => break None,
                Err(stop) => break Some(stop),
            };
            records += 1;
            *commands.entry(name).or_default() += 1;
        }
    } else {
        let mut reader = Reader::at(&data, format.records_at, first_lsn);
        loop {
            match reader.next_record() {
                Ok(Some(record)) => {
                    records += 1;
                    lsns = Some((lsns.map_or(record.lsn, |(first, _)| first), record.lsn));
                    let name = String::from_utf8_lossy(&record.args[0]).to_ascii_uppercase();
                    *commands.entry(name).or_default() += 1;
                }
                Ok(None) => break None,
                Err(stop) => break Some(stop),
            }
        }
    };
    let mut text = format!("{}: {records} records", path.display());
    if let Some((first, last)) = lsns {
        text.push_str(&format!(", LSN {first}..{last}"));
    }
    text.push_str(&format!(", {} bytes, ", data.len()));
    text.push_str(&match format.version {
        0 => "format version 0 (written before file headers)\n".to_string(),
        v => format!("format version {v}\n"),
    });
    for (name, count) in &commands {
        text.push_str(&format!("  {name}: {count}\n"));
    }
    let (offset, problem) = match stop {
        None => {
            text.push_str("The log is valid.\n");
            return Ok(Report { text, valid: true });
        }
        Some(Stop::TornTail { offset }) => (
            offset,
            format!(
                "an incomplete last record at offset {offset} ({} bytes)",
                data.len() - offset
            ),
        ),
        Some(Stop::Corrupt { offset, reason }) => {
            (offset, format!("damage at offset {offset}: {reason}"))
        }
    };
    text.push_str(&format!("Found {problem}.\n"));
    if !fix {
        text.push_str("Run with --fix to cut the file there, keeping the records before it.\n");
        return Ok(Report { text, valid: false });
    }
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(offset as u64)?;
    file.sync_all()?;
    text.push_str(&format!(
        "Fixed: cut at offset {offset}, dropping {} bytes.\n",
        data.len() - offset
    ));
    Ok(Report { text, valid: true })
}
