//! The forward-only daily salt ratchet (scheme and threat model: `README.md`).
//!
//! `state(d+1) = derive_key("mailpulse salt ratchet v1 next", state(d))` and
//! `salt(d) = derive_key("mailpulse salt ratchet v1 salt", state(d))`. BLAKE3 is one-way, so
//! from today's state anyone can compute today's and later salts, and nobody any earlier one.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::wipe::wipe;
use crate::PseudonymError;

const NEXT_CONTEXT: &str = "mailpulse salt ratchet v1 next";
const SALT_CONTEXT: &str = "mailpulse salt ratchet v1 salt";
const SECS_PER_DAY: u64 = 86_400;

/// Furthest one call may advance: beyond ten years the clock or the input is wrong, and
/// hashing billions of steps would stall the caller.
pub const MAX_ADVANCE_DAYS: u32 = 3_660;

/// Day number (days since the Unix epoch, UTC) of a Unix time in seconds.
pub fn day_of(unix_secs: u64) -> u32 {
    u32::try_from(unix_secs / SECS_PER_DAY).unwrap_or(u32::MAX)
}

/// Today's day number by the system clock (UTC).
pub fn today() -> u32 {
    day_of(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs()),
    )
}

/// The ratchet at one day. Dropping it, or advancing it, overwrites the old state.
///
/// `Clone` exists so a holder can publish a snapshot outside its lock; every copy wipes itself
/// when dropped.
#[derive(Clone)]
pub struct RatchetState {
    day: u32,
    state: [u8; 32],
}

impl RatchetState {
    /// A fresh state from the operating system's randomness: a reseed. Salts from it are
    /// unrelated to any earlier state's.
    pub fn random(day: u32) -> Result<RatchetState, PseudonymError> {
        let mut state = [0u8; 32];
        getrandom::fill(&mut state).map_err(PseudonymError::NoRandomness)?;
        Ok(RatchetState { day, state })
    }

    /// A state received from a peer (the edge's salt topic) or read back from storage.
    pub fn from_parts(day: u32, state: [u8; 32]) -> RatchetState {
        RatchetState { day, state }
    }

    pub fn day(&self) -> u32 {
        self.day
    }

    /// The secret itself, to hand to a peer. Whoever holds it can compute this day's salt and
    /// every later one: keep copies short-lived.
    pub fn state_bytes(&self) -> &[u8; 32] {
        &self.state
    }

    /// This day's salt.
    pub fn salt(&self) -> DaySalt {
        DaySalt {
            day: self.day,
            key: blake3::derive_key(SALT_CONTEXT, &self.state),
        }
    }

    /// Moves forward to `day`, overwriting each old state as it goes; `day` equal to the
    /// current day does nothing. Refuses to go back: the past is gone by design.
    pub fn advance_to(&mut self, day: u32) -> Result<(), PseudonymError> {
        if day < self.day {
            return Err(PseudonymError::Backwards {
                current: self.day,
                requested: day,
            });
        }
        if day - self.day > MAX_ADVANCE_DAYS {
            return Err(PseudonymError::TooFarAhead {
                from: self.day,
                to: day,
            });
        }
        while self.day < day {
            let mut next = blake3::derive_key(NEXT_CONTEXT, &self.state);
            self.state.copy_from_slice(&next);
            wipe(&mut next);
            self.day += 1;
        }
        Ok(())
    }
}

impl Drop for RatchetState {
    fn drop(&mut self) {
        wipe(&mut self.state);
    }
}

impl std::fmt::Debug for RatchetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RatchetState")
            .field("day", &self.day)
            .finish_non_exhaustive()
    }
}

/// One day's visitor-hash key. Wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct DaySalt {
    day: u32,
    key: [u8; 32],
}

impl DaySalt {
    pub fn day(&self) -> u32 {
        self.day
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl Drop for DaySalt {
    fn drop(&mut self) {
        wipe(&mut self.key);
    }
}

impl std::fmt::Debug for DaySalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaySalt")
            .field("day", &self.day)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];

    #[test]
    fn advancing_is_deterministic_across_instances() {
        let mut a = RatchetState::from_parts(100, SEED);
        let mut b = RatchetState::from_parts(100, SEED);
        a.advance_to(101).expect("forward");
        a.advance_to(103).expect("forward");
        b.advance_to(103).expect("forward");
        assert_eq!(a.state_bytes(), b.state_bytes());
        assert_eq!(a.salt(), b.salt());
        assert_eq!(a.day(), 103);
    }

    #[test]
    fn each_day_has_a_different_salt_and_state() {
        let mut ratchet = RatchetState::from_parts(100, SEED);
        let mut salts = vec![ratchet.salt()];
        let mut states = vec![*ratchet.state_bytes()];
        for day in 101..110 {
            ratchet.advance_to(day).expect("forward");
            salts.push(ratchet.salt());
            states.push(*ratchet.state_bytes());
        }
        for (i, salt) in salts.iter().enumerate() {
            assert!(salts[i + 1..].iter().all(|other| other != salt), "salt {i}");
            // The salt is not the state that derives tomorrow's.
            assert!(states.iter().all(|state| state != salt.as_bytes()));
        }
    }

    #[test]
    fn same_day_is_a_no_op_and_backwards_is_refused() {
        let mut ratchet = RatchetState::from_parts(100, SEED);
        ratchet.advance_to(100).expect("same day");
        assert_eq!(ratchet.state_bytes(), &SEED);
        ratchet.advance_to(101).expect("forward");
        let state = *ratchet.state_bytes();
        assert!(matches!(
            ratchet.advance_to(100),
            Err(PseudonymError::Backwards {
                current: 101,
                requested: 100
            })
        ));
        assert_eq!(
            ratchet.state_bytes(),
            &state,
            "a refused move changes nothing"
        );
        assert_eq!(ratchet.day(), 101);
    }

    #[test]
    fn refuses_absurd_jumps() {
        let mut ratchet = RatchetState::from_parts(100, SEED);
        assert!(matches!(
            ratchet.advance_to(u32::MAX),
            Err(PseudonymError::TooFarAhead { .. })
        ));
        ratchet
            .advance_to(100 + MAX_ADVANCE_DAYS)
            .expect("ten years is allowed");
    }

    #[test]
    fn random_states_differ() {
        let a = RatchetState::random(5).expect("randomness");
        let b = RatchetState::random(5).expect("randomness");
        assert_ne!(a.state_bytes(), b.state_bytes());
        assert_eq!(a.day(), 5);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let ratchet = RatchetState::from_parts(100, [0xab; 32]);
        let text = format!("{ratchet:?} {:?}", ratchet.salt());
        assert!(!text.contains("171"), "{text}");
        assert!(!text.to_lowercase().contains("abab"), "{text}");
    }

    #[test]
    fn day_numbers_are_utc_days_since_epoch() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_399), 0);
        assert_eq!(day_of(86_400), 1);
        // 2024-01-01T00:00:00Z
        assert_eq!(day_of(1_704_067_200), 19_723);
    }
}
