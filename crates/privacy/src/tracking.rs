//! What a caller may set for a subscriber: a consent state, or a grant limited to a level.

use std::fmt;
use std::str::FromStr;

use mailpulse_event::{ConsentState, TrackingBasis, TrackingLevel};

use crate::PrivacyError;

/// The `--tracking` value of `mailpulse consent set` and the `tracking` field of the API and
/// of import lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    /// `granted`: consent without a limit (the tenant's and campaign's limits still apply).
    Granted,
    /// `denied`: no subscriber-level data from now on.
    Denied,
    /// `restricted`: existing data kept but not processed; new events anonymous.
    Restricted,
    /// `off`, `anonymous`, `pseudonymous` or `identified`: consent up to that level.
    Level(TrackingLevel),
}

impl Tracking {
    /// The consent record's (state, level).
    pub fn state_and_level(self) -> (ConsentState, Option<TrackingLevel>) {
        match self {
            Tracking::Granted => (ConsentState::Granted, None),
            Tracking::Denied => (ConsentState::Denied, None),
            Tracking::Restricted => (ConsentState::Restricted, None),
            Tracking::Level(level) => (ConsentState::Granted, Some(level)),
        }
    }

    /// The inverse of [`Tracking::state_and_level`].
    pub fn from_state(state: ConsentState, level: Option<TrackingLevel>) -> Tracking {
        match (state, level) {
            (ConsentState::Granted, None) => Tracking::Granted,
            (ConsentState::Granted, Some(level)) => Tracking::Level(level),
            (ConsentState::Denied, _) => Tracking::Denied,
            (ConsentState::Restricted, _) => Tracking::Restricted,
        }
    }
}

impl FromStr for Tracking {
    type Err = PrivacyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "granted" => Ok(Tracking::Granted),
            "denied" => Ok(Tracking::Denied),
            "restricted" => Ok(Tracking::Restricted),
            other => other
                .parse::<TrackingLevel>()
                .map(Tracking::Level)
                .map_err(|_| {
                    PrivacyError::invalid(
                        "tracking",
                        format!(
                            "`{other}` is not one of granted, denied, restricted, off, anonymous, \
                         pseudonymous, identified"
                        ),
                    )
                }),
        }
    }
}

impl fmt::Display for Tracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tracking::Granted => "granted",
            Tracking::Denied => "denied",
            Tracking::Restricted => "restricted",
            Tracking::Level(level) => level.as_str(),
        })
    }
}

/// Parses a level name (`off`, `anonymous`, `pseudonymous`, `identified`).
pub fn parse_level(text: &str) -> Result<TrackingLevel, PrivacyError> {
    text.parse::<TrackingLevel>().map_err(|_| {
        PrivacyError::invalid(
            "level",
            format!("`{text}` is not one of off, anonymous, pseudonymous, identified"),
        )
    })
}

/// Parses a basis name (`opt_in`, `legitimate_interest`).
pub fn parse_basis(text: &str) -> Result<TrackingBasis, PrivacyError> {
    match text {
        "opt_in" => Ok(TrackingBasis::OptIn),
        "legitimate_interest" => Ok(TrackingBasis::LegitimateInterest),
        other => Err(PrivacyError::invalid(
            "basis",
            format!("`{other}` is not one of opt_in, legitimate_interest"),
        )),
    }
}

pub fn basis_name(basis: TrackingBasis) -> &'static str {
    match basis {
        TrackingBasis::OptIn => "opt_in",
        TrackingBasis::LegitimateInterest => "legitimate_interest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_and_prints_back() {
        for text in [
            "granted",
            "denied",
            "restricted",
            "off",
            "anonymous",
            "pseudonymous",
            "identified",
        ] {
            let tracking: Tracking = text.parse().expect("a valid value");
            assert_eq!(tracking.to_string(), text);
            let (state, level) = tracking.state_and_level();
            assert_eq!(Tracking::from_state(state, level), tracking);
        }
    }

    #[test]
    fn unknown_values_name_the_choices() {
        let error = "yes".parse::<Tracking>().expect_err("not a value");
        assert_eq!(error.code(), "invalid_request");
        assert!(error.to_string().contains("granted, denied"));
        assert!(parse_basis("opt_out").is_err());
        assert_eq!(
            parse_basis("legitimate_interest").map(basis_name).ok(),
            Some("legitimate_interest")
        );
    }
}
