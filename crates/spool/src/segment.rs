//! Segment files: `<seq:016>.spool` in the spool directory, plus the replay cursor file.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::SpoolError;

const SUFFIX: &str = ".spool";
const CURSOR_FILE: &str = "cursor";

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}{SUFFIX}"))
}

/// Existing segments as `(seq, len)`, oldest first.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, u64)>, SpoolError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| SpoolError::io(dir, e))? {
        let entry = entry.map_err(|e| SpoolError::io(dir, e))?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let len = entry
            .metadata()
            .map_err(|e| SpoolError::io(&entry.path(), e))?
            .len();
        segments.push((seq, len));
    }
    segments.sort_unstable();
    Ok(segments)
}

pub(crate) fn create_segment(dir: &Path, seq: u64) -> Result<File, SpoolError> {
    let path = segment_path(dir, seq);
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| SpoolError::io(&path, e))?;
    sync_dir(dir)?;
    Ok(file)
}

pub(crate) fn write_all(
    file: &mut File,
    dir: &Path,
    seq: u64,
    bytes: &[u8],
) -> Result<(), SpoolError> {
    file.write_all(bytes)
        .map_err(|e| SpoolError::io(&segment_path(dir, seq), e))
}

/// Reads up to `max` bytes of segment `seq` starting at `offset`.
pub(crate) fn read_from(
    dir: &Path,
    seq: u64,
    offset: u64,
    max: usize,
) -> Result<Vec<u8>, SpoolError> {
    let path = segment_path(dir, seq);
    let mut file = File::open(&path).map_err(|e| SpoolError::io(&path, e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| SpoolError::io(&path, e))?;
    let mut buf = Vec::new();
    file.take(max as u64)
        .read_to_end(&mut buf)
        .map_err(|e| SpoolError::io(&path, e))?;
    Ok(buf)
}

pub(crate) fn remove_segment(dir: &Path, seq: u64) -> Result<(), SpoolError> {
    let path = segment_path(dir, seq);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::io(&path, e)),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpoolError::io(dir, e))
}

/// The replay cursor: `seq offset` of the first record not yet acknowledged.
pub(crate) fn load_cursor(dir: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(dir.join(CURSOR_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    let seq = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    Some((seq, offset))
}

/// Replaces the cursor atomically (write, fsync, rename), so a crash leaves the old or the new.
pub(crate) fn store_cursor(dir: &Path, seq: u64, offset: u64) -> Result<(), SpoolError> {
    let tmp = dir.join("cursor.tmp");
    let path = dir.join(CURSOR_FILE);
    let mut file = File::create(&tmp).map_err(|e| SpoolError::io(&tmp, e))?;
    file.write_all(format!("{seq} {offset}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| SpoolError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| SpoolError::io(&path, e))?;
    sync_dir(dir)
}
