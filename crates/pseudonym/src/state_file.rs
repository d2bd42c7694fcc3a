//! The ratchet's only local copy: one small file holding the current state, replaced atomically
//! as the ratchet advances, so a restart continues where it stopped.
//!
//! Record (73 bytes): `"MPSR"` ‖ version `0x01` ‖ day (u32 LE) ‖ state (32 bytes) ‖
//! BLAKE3 of the preceding 41 bytes (32 bytes).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::wipe::wipe;
use crate::{PseudonymError, RatchetState};

const MAGIC: &[u8; 4] = b"MPSR";
const VERSION: u8 = 1;
const BODY_LEN: usize = 4 + 1 + 4 + 32;
const RECORD_LEN: usize = BODY_LEN + 32;

/// Loads and stores the ratchet state file.
pub struct StateFile;

impl StateFile {
    /// The stored state, or `None` when there is no file yet (first start: seed one).
    pub fn load(path: &Path) -> Result<Option<RatchetState>, PseudonymError> {
        let mut record = match fs::read(path) {
            Ok(record) => record,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error(path, source)),
        };
        let state = decode(&record).map_err(|reason| PseudonymError::CorruptStateFile {
            path: path.to_owned(),
            reason,
        });
        wipe(&mut record);
        state.map(Some)
    }

    /// Replaces the file with `state`: written to a temporary file beside it, flushed to disk,
    /// renamed over the old one, and the directory flushed, so a crash leaves either the old
    /// or the new state, never a torn one. Owner-only permissions on Unix.
    pub fn store(path: &Path, state: &RatchetState) -> Result<(), PseudonymError> {
        let file_name = path.file_name().ok_or_else(|| {
            io_error(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
            )
        })?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // A fixed name, so a temporary file left by a crash is overwritten next time rather
        // than kept forever with an old state in it.
        let mut temp_name = file_name.to_owned();
        temp_name.push(".tmp");
        let temp = dir.join(temp_name);

        let mut record = encode(state);
        let written = write_synced(&temp, &record);
        wipe(&mut record);
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error(&temp, source));
        }
        fs::rename(&temp, path).map_err(|source| io_error(path, source))?;
        sync_dir(dir).map_err(|source| io_error(dir, source))
    }
}

fn write_synced(temp: &Path, record: &[u8]) -> io::Result<()> {
    // Removed first: permissions apply only to a file being created.
    match fs::remove_file(temp) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(temp)?;
    file.write_all(record)?;
    file.sync_all()
}

/// Makes the rename itself durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn encode(state: &RatchetState) -> [u8; RECORD_LEN] {
    let mut record = [0u8; RECORD_LEN];
    record[..4].copy_from_slice(MAGIC);
    record[4] = VERSION;
    record[5..9].copy_from_slice(&state.day().to_le_bytes());
    record[9..BODY_LEN].copy_from_slice(state.state_bytes());
    let checksum = blake3::hash(&record[..BODY_LEN]);
    record[BODY_LEN..].copy_from_slice(checksum.as_bytes());
    record
}

fn decode(record: &[u8]) -> Result<RatchetState, &'static str> {
    let record: &[u8; RECORD_LEN] = record.try_into().map_err(|_| "wrong length")?;
    let (body, checksum) = record.split_at(BODY_LEN);
    if &body[..4] != MAGIC {
        return Err("not a salt state file");
    }
    if body[4] != VERSION {
        return Err("unsupported version");
    }
    if blake3::hash(body).as_bytes() != checksum {
        return Err("checksum mismatch");
    }
    let mut day = [0u8; 4];
    day.copy_from_slice(&body[5..9]);
    let mut state = [0u8; 32];
    state.copy_from_slice(&body[9..]);
    let ratchet = RatchetState::from_parts(u32::from_le_bytes(day), state);
    wipe(&mut state);
    Ok(ratchet)
}

fn io_error(path: &Path, source: io::Error) -> PseudonymError {
    PseudonymError::Io {
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_is_as_documented() {
        let record = encode(&RatchetState::from_parts(0x0102_0304, [0xee; 32]));
        assert_eq!(&record[..5], b"MPSR\x01");
        assert_eq!(&record[5..9], &[4, 3, 2, 1]);
        assert_eq!(&record[9..41], &[0xee; 32]);
        assert_eq!(&record[41..], blake3::hash(&record[..41]).as_bytes());
    }

    #[test]
    fn decode_rejects_every_single_byte_change() {
        let record = encode(&RatchetState::from_parts(19_723, [0x5a; 32]));
        for index in 0..RECORD_LEN {
            let mut corrupt = record;
            corrupt[index] ^= 0x01;
            assert!(decode(&corrupt).is_err(), "byte {index}");
        }
        assert!(decode(&record[..RECORD_LEN - 1]).is_err(), "short");
        assert!(decode(&[&record[..], &[0]].concat()).is_err(), "long");
    }
}
