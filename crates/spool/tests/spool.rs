use std::fs::OpenOptions;
use std::io::Write;

use mailpulse_spool::{Spool, SpoolError, SpoolOptions};

fn options() -> SpoolOptions {
    SpoolOptions {
        max_bytes: 1 << 20,
        segment_bytes: 4096,
        fsync_every: 16,
    }
}

fn drain(spool: &mut Spool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let batch = spool.read_batch(spool.cursor(), 7).expect("read");
        let Some(last) = batch.last() else { break };
        let next = last.next;
        out.extend(batch.into_iter().map(|r| (r.key, r.payload)));
        spool.ack_through(next).expect("ack");
    }
    out
}

fn record(i: usize) -> (Vec<u8>, Vec<u8>) {
    (
        format!("key-{}", i % 5).into_bytes(),
        format!("{{\"event\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 300)).into_bytes(),
    )
}

#[test]
fn records_come_back_in_append_order_across_segments_and_segments_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spool = Spool::open(dir.path(), options()).expect("open");
    let written: Vec<_> = (0..500).map(record).collect();
    for (key, payload) in &written {
        spool.append(key, payload).expect("append");
    }
    assert!(spool.stats().segments > 5, "expected several segments");
    assert!(!spool.is_drained());
    assert_eq!(drain(&mut spool), written);
    assert!(spool.is_drained());
    assert_eq!(
        spool.stats().segments,
        0,
        "every delivered segment is deleted"
    );
}

#[test]
fn reopening_resumes_after_the_acknowledged_records_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written: Vec<_> = (0..200).map(record).collect();
    {
        let mut spool = Spool::open(dir.path(), options()).expect("open");
        for (key, payload) in &written {
            spool.append(key, payload).expect("append");
        }
        let batch = spool.read_batch(spool.cursor(), 50).expect("read");
        spool.ack_through(batch[49].next).expect("ack");
    }
    let mut spool = Spool::open(dir.path(), options()).expect("reopen");
    spool.append(b"late", b"after restart").expect("append");
    let mut expected = written[50..].to_vec();
    expected.push((b"late".to_vec(), b"after restart".to_vec()));
    assert_eq!(drain(&mut spool), expected);
}

#[test]
fn a_torn_final_write_is_skipped_and_later_records_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut spool = Spool::open(dir.path(), options()).expect("open");
        spool.append(b"k", b"first").expect("append");
        spool.append(b"k", b"second").expect("append");
    }
    // Simulate a crash mid-write: half a header at the end of the segment.
    let segment = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".spool"))
        .expect("segment");
    OpenOptions::new()
        .append(true)
        .open(segment.path())
        .and_then(|mut f| f.write_all(&[42, 0, 0]))
        .expect("tear");
    let mut spool = Spool::open(dir.path(), options()).expect("reopen");
    spool.append(b"k", b"third").expect("append");
    let payloads: Vec<_> = drain(&mut spool).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        payloads,
        vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
    );
    assert_eq!(spool.stats().corrupt_skips, 1);
}

#[test]
fn a_full_spool_refuses_appends_and_accepts_again_after_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spool = Spool::open(
        dir.path(),
        SpoolOptions {
            max_bytes: 2048,
            segment_bytes: 512,
            fsync_every: 1,
        },
    )
    .expect("open");
    let mut accepted = 0;
    let err = loop {
        match spool.append(b"key", &[b'x'; 100]) {
            Ok(()) => accepted += 1,
            Err(err) => break err,
        }
    };
    assert!(matches!(err, SpoolError::Full { .. }), "{err}");
    assert!(accepted >= 15, "only {accepted} records fit");
    assert_eq!(drain(&mut spool).len(), accepted);
    spool
        .append(b"key", b"room again")
        .expect("space returned after replay");
}

#[test]
fn oversized_records_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spool = Spool::open(dir.path(), options()).expect("open");
    let err = spool
        .append(&vec![b'k'; 70_000], b"x")
        .expect_err("key too long");
    assert!(matches!(err, SpoolError::TooLarge(_)));
}

#[test]
fn a_drained_spool_gives_all_its_room_back_even_within_one_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SpoolOptions {
        max_bytes: 2048,
        segment_bytes: 1 << 20,
        fsync_every: 1,
    };
    let mut spool = Spool::open(dir.path(), options.clone()).expect("open");
    for round in 0..3 {
        let mut accepted = 0;
        while spool.append(b"key", &[b'x'; 100]).is_ok() {
            accepted += 1;
        }
        assert!(accepted >= 15, "round {round}: only {accepted} records fit");
        assert_eq!(drain(&mut spool).len(), accepted, "round {round}");
        assert_eq!(spool.stats().bytes, 0, "round {round}: room comes back");
    }
    // Reopening after a full drain starts a segment after the cursor: nothing is skipped.
    drop(spool);
    let mut spool = Spool::open(dir.path(), options).expect("reopen");
    spool.append(b"k", b"after reopen").expect("append");
    let payloads: Vec<_> = drain(&mut spool).into_iter().map(|(_, p)| p).collect();
    assert_eq!(payloads, vec![b"after reopen".to_vec()]);
}
