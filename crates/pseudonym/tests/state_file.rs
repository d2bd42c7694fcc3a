//! The state file on a real filesystem: roundtrip, absence, corruption, replacement.

use std::fs;

use mailpulse_pseudonym::{PseudonymError, RatchetState, StateFile};

fn temp_path() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("salt.state");
    (dir, path)
}

#[test]
fn roundtrips_and_continues_the_same_ratchet() {
    let (_dir, path) = temp_path();
    let mut original = RatchetState::random(19_723).expect("randomness");
    StateFile::store(&path, &original).expect("store");
    let mut loaded = StateFile::load(&path).expect("load").expect("present");
    assert_eq!(loaded.day(), 19_723);
    assert_eq!(loaded.state_bytes(), original.state_bytes());
    original.advance_to(19_730).expect("forward");
    loaded.advance_to(19_730).expect("forward");
    assert_eq!(loaded.salt(), original.salt());
}

#[test]
fn a_missing_file_is_none() {
    let (_dir, path) = temp_path();
    assert!(StateFile::load(&path).expect("no error").is_none());
}

#[test]
fn storing_replaces_the_previous_state_and_leaves_no_temporary_file() {
    let (dir, path) = temp_path();
    let mut ratchet = RatchetState::random(100).expect("randomness");
    StateFile::store(&path, &ratchet).expect("store day 100");
    let day_100 = fs::read(&path).expect("read");
    ratchet.advance_to(101).expect("forward");
    StateFile::store(&path, &ratchet).expect("store day 101");
    let loaded = StateFile::load(&path).expect("load").expect("present");
    assert_eq!(loaded.day(), 101);
    assert_ne!(fs::read(&path).expect("read"), day_100);
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["salt.state"], "only the state file remains");
}

#[test]
fn corrupted_truncated_and_foreign_files_are_rejected() {
    let (_dir, path) = temp_path();
    StateFile::store(&path, &RatchetState::from_parts(7, [3; 32])).expect("store");
    let good = fs::read(&path).expect("read");
    let mut flipped = good.clone();
    flipped[20] ^= 0x10;
    for bad in [
        flipped,
        good[..good.len() - 1].to_vec(),
        b"hello".to_vec(),
        Vec::new(),
    ] {
        fs::write(&path, &bad).expect("write corrupt file");
        assert!(
            matches!(
                StateFile::load(&path),
                Err(PseudonymError::CorruptStateFile { .. })
            ),
            "accepted {} bytes",
            bad.len()
        );
    }
}

#[cfg(unix)]
#[test]
fn the_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = temp_path();
    StateFile::store(&path, &RatchetState::from_parts(7, [3; 32])).expect("store");
    let mode = fs::metadata(&path).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_unwritable_location_is_an_io_error() {
    let (dir, _) = temp_path();
    let path = dir.path().join("missing-dir").join("salt.state");
    let result = StateFile::store(&path, &RatchetState::from_parts(7, [3; 32]));
    assert!(matches!(result, Err(PseudonymError::Io { .. })));
}
