use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::frame::{self, Decoded};
use crate::segment;
use crate::SpoolError;

/// Bytes read from a segment per [`Spool::read_batch`] call at most (records never span calls).
const READ_CHUNK: usize = 2 << 20;

#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// Total size the spool may reach; appends beyond it fail with [`SpoolError::Full`].
    pub max_bytes: u64,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Records appended between fsyncs.
    pub fsync_every: usize,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            fsync_every: 256,
        }
    }
}

/// A place in the spool: segment number and byte offset within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// One spooled record and the position just after it (what to acknowledge once it is delivered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub next: Position,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes on disk, acknowledged records in undeleted segments included.
    pub bytes: u64,
    pub segments: usize,
    /// Records skipped because a segment was torn or corrupt (since open).
    pub corrupt_skips: u64,
}

struct Writer {
    seq: u64,
    file: File,
    len: u64,
    unsynced: usize,
}

pub struct Spool {
    dir: PathBuf,
    options: SpoolOptions,
    /// `(seq, len)` of every segment on disk, oldest first; the last is the writer's if open.
    segments: VecDeque<(u64, u64)>,
    writer: Option<Writer>,
    /// First record not yet acknowledged.
    cursor: Position,
    /// Number of the next segment; only ever grows, so a new segment always lies after the
    /// cursor even when every older one has been deleted.
    next_seq: u64,
    bytes: u64,
    corrupt_skips: u64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`. Records left by an earlier process are
    /// kept for replay; new appends always start a fresh segment, so nothing is ever written
    /// after a torn tail.
    pub fn open(dir: &Path, options: SpoolOptions) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir).map_err(|e| SpoolError::io(dir, e))?;
        let segments: VecDeque<(u64, u64)> = segment::list_segments(dir)?.into();
        let bytes = segments.iter().map(|(_, len)| len).sum();
        let cursor = segment::load_cursor(dir)
            .map(|(segment, offset)| Position { segment, offset })
            .unwrap_or_default();
        let next_seq = segments
            .back()
            .map_or(0, |(seq, _)| seq + 1)
            .max(cursor.segment + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            options,
            segments,
            writer: None,
            cursor,
            next_seq,
            bytes,
            corrupt_skips: 0,
        })
    }

    /// Appends one record. It is durable against process death at once (written with one
    /// `write`), and against power loss after the next fsync.
    pub fn append(&mut self, key: &[u8], payload: &[u8]) -> Result<(), SpoolError> {
        let mut framed = Vec::with_capacity(frame::HEADER_LEN + 2 + key.len() + payload.len());
        frame::encode(key, payload, &mut framed)?;
        let size = framed.len() as u64;
        if self.bytes + size > self.options.max_bytes {
            return Err(SpoolError::Full {
                used: self.bytes,
                max: self.options.max_bytes,
            });
        }
        self.ensure_writer_room()?;
        let dir = &self.dir;
        let Some(writer) = self.writer.as_mut() else {
            return Err(SpoolError::TooLarge("no open segment"));
        };
        segment::write_all(&mut writer.file, dir, writer.seq, &framed)?;
        writer.len += size;
        writer.unsynced += 1;
        let (seq, len) = (writer.seq, writer.len);
        let needs_sync = writer.unsynced >= self.options.fsync_every;
        if let Some(last) = self.segments.back_mut().filter(|(s, _)| *s == seq) {
            last.1 = len;
        }
        self.bytes += size;
        if needs_sync {
            self.sync()?;
        }
        Ok(())
    }

    /// fsyncs appended records (call on a timer too, so a quiet spool is not left unsynced).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if let Some(writer) = self.writer.as_mut().filter(|w| w.unsynced > 0) {
            writer
                .file
                .sync_data()
                .map_err(|e| SpoolError::io(&segment::segment_path(&self.dir, writer.seq), e))?;
            writer.unsynced = 0;
        }
        Ok(())
    }

    /// Up to `max` unacknowledged records, oldest first, starting at `from` (use
    /// [`Spool::cursor`] to start, then the last record's `next`).
    pub fn read_batch(&mut self, from: Position, max: usize) -> Result<Vec<Record>, SpoolError> {
        let mut records = Vec::new();
        let mut pos = from;
        while records.len() < max {
            let Some(&(seq, len)) = self.segments.iter().find(|(seq, _)| *seq >= pos.segment)
            else {
                break;
            };
            if seq != pos.segment {
                pos = Position {
                    segment: seq,
                    offset: 0,
                };
            }
            if pos.offset >= len {
                if self.is_writer(seq) {
                    break;
                }
                pos = Position {
                    segment: seq + 1,
                    offset: 0,
                };
                continue;
            }
            let chunk = segment::read_from(&self.dir, seq, pos.offset, READ_CHUNK)?;
            let mut at = 0;
            let mut skip_rest = false;
            while records.len() < max {
                match frame::decode(&chunk[at..]) {
                    Decoded::Record { key, payload, len } => {
                        at += len;
                        records.push(Record {
                            key: key.to_vec(),
                            payload: payload.to_vec(),
                            next: Position {
                                segment: seq,
                                offset: pos.offset + at as u64,
                            },
                        });
                    }
                    // The chunk ended mid-record: read on from here in the next round.
                    Decoded::Incomplete if pos.offset + (chunk.len() as u64) < len => break,
                    // A record cut short by the end of the file, or garbage: a torn write.
                    Decoded::Incomplete | Decoded::Corrupt => {
                        skip_rest = true;
                        break;
                    }
                }
            }
            pos.offset += at as u64;
            if skip_rest && !self.is_writer(seq) {
                self.corrupt_skips += 1;
                tracing::error!(
                    segment = seq,
                    offset = pos.offset,
                    "spool segment is torn or corrupt past this offset; skipping the rest of it"
                );
                pos = Position {
                    segment: seq + 1,
                    offset: 0,
                };
            } else if skip_rest || at == 0 {
                break;
            }
        }
        Ok(records)
    }

    /// Marks everything before `pos` delivered: the cursor moves (durably) and wholly delivered
    /// segments are deleted.
    pub fn ack_through(&mut self, pos: Position) -> Result<(), SpoolError> {
        if pos <= self.cursor {
            return Ok(());
        }
        self.cursor = pos;
        // Delete delivered segments before writing the cursor: on a full disk the cursor file
        // cannot be written until they are gone. A crash in between is harmless, since reading
        // resumes at the first segment at or after the stored cursor.
        while let Some(&(seq, len)) = self.segments.front() {
            let fully_read = seq < pos.segment || (seq == pos.segment && pos.offset >= len);
            if !fully_read {
                break;
            }
            if self.is_writer(seq) {
                // Everything written has been delivered: close the open segment too, or its
                // bytes would count against `max_bytes` until it filled up.
                self.sync()?;
                self.writer = None;
            }
            segment::remove_segment(&self.dir, seq)?;
            self.segments.pop_front();
            self.bytes -= len;
        }
        segment::store_cursor(&self.dir, pos.segment, pos.offset)
    }

    /// The first unacknowledged record's position.
    pub fn cursor(&self) -> Position {
        self.cursor
    }

    /// True when every appended record has been acknowledged.
    pub fn is_drained(&self) -> bool {
        self.segments.iter().all(|&(seq, len)| {
            seq < self.cursor.segment
                || (seq == self.cursor.segment && self.cursor.offset >= len)
                || len == 0
        })
    }

    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            bytes: self.bytes,
            segments: self.segments.len(),
            corrupt_skips: self.corrupt_skips,
        }
    }

    fn is_writer(&self, seq: u64) -> bool {
        self.writer.as_ref().is_some_and(|w| w.seq == seq)
    }

    fn ensure_writer_room(&mut self) -> Result<(), SpoolError> {
        let full = self
            .writer
            .as_ref()
            .is_none_or(|w| w.len >= self.options.segment_bytes);
        if full {
            self.sync()?;
            let seq = self.next_seq;
            self.next_seq += 1;
            let file = segment::create_segment(&self.dir, seq)?;
            self.segments.push_back((seq, 0));
            self.writer = Some(Writer {
                seq,
                file,
                len: 0,
                unsynced: 0,
            });
        }
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(error) = self.sync() {
            tracing::error!(%error, "spool fsync on close failed");
        }
    }
}
