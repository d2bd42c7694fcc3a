//! Property tests: verification never panics, whatever it is given, and accepts nothing but
//! the exact tokens that were signed.

mod common;

use common::{click_claims, decode, encode, open_claims, ring, signed, ISSUED_AT};
use mailpulse_token::{sign, verify, Action, Claims};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_strings_never_verify(token in ".{0,200}") {
        prop_assert!(verify(&ring(), &token, ISSUED_AT).is_err());
    }

    #[test]
    fn random_base64url_strings_never_verify(token in "[A-Za-z0-9_-]{0,300}") {
        prop_assert!(verify(&ring(), &token, ISSUED_AT).is_err());
    }

    #[test]
    fn random_bytes_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(verify(&ring(), &encode(&bytes), ISSUED_AT).is_err());
    }

    /// Random bytes behind a valid-looking header reach the tag check and fail it.
    #[test]
    fn random_bodies_under_a_known_key_never_verify(
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![1, 2, b'k', b'1'];
        bytes.extend_from_slice(&body);
        prop_assert!(verify(&ring(), &encode(&bytes), ISSUED_AT).is_err());
    }

    #[test]
    fn mutated_tokens_verify_only_when_unchanged(
        click in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..4),
    ) {
        let original = signed(&if click { click_claims() } else { open_claims() });
        let mut mutated: Vec<char> = original.chars().collect();
        for (index, operation, replacement) in edits {
            match operation {
                0 if !mutated.is_empty() => {
                    let at = index.index(mutated.len());
                    mutated[at] = replacement;
                }
                1 => {
                    let at = index.index(mutated.len() + 1);
                    mutated.insert(at, replacement);
                }
                _ if !mutated.is_empty() => {
                    let at = index.index(mutated.len());
                    mutated.remove(at);
                }
                _ => {}
            }
        }
        let mutated: String = mutated.into_iter().collect();
        let result = verify(&ring(), &mutated, ISSUED_AT);
        prop_assert_eq!(result.is_ok(), mutated == original, "mutated: {}", mutated);
    }

    #[test]
    fn byte_mutations_verify_only_when_unchanged(
        index in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let bytes = decode(&signed(&click_claims()));
        let mut mutated = bytes.clone();
        let at = index.index(mutated.len());
        mutated[at] = value;
        let result = verify(&ring(), &encode(&mutated), ISSUED_AT);
        prop_assert_eq!(result.is_ok(), mutated == bytes);
    }

    /// Whatever valid claims are signed come back unchanged.
    #[test]
    fn sign_then_verify_roundtrips(
        tenant in "[^\\p{Cc}]{1,40}",
        campaign in "[^\\p{Cc}]{1,40}",
        subscriber in "[^\\p{Cc}]{1,40}",
        link in "[a-z0-9]{1,16}",
        path in "[a-z0-9/]{0,40}",
        issued_at in any::<u64>(),
        kind in 0u8..3,
    ) {
        let destination = format!("https://example.com/{path}");
        let action = match kind {
            0 => Action::Open,
            1 => Action::Click { link: &link, destination: &destination },
            _ => Action::Unsubscribe,
        };
        let claims = Claims {
            tenant: &tenant,
            campaign: &campaign,
            subscriber: &subscriber,
            action,
            issued_at,
            expires_at: None,
        };
        let token = sign(&ring(), &claims).expect("valid claims sign");
        let verified = verify(&ring(), &token, issued_at).expect("own token verifies");
        prop_assert_eq!(verified.tenant(), tenant.as_str());
        prop_assert_eq!(verified.campaign(), campaign.as_str());
        prop_assert_eq!(verified.subscriber(), subscriber.as_str());
        prop_assert_eq!(verified.kind(), action.kind());
        prop_assert_eq!(verified.issued_at(), issued_at);
        if kind == 1 {
            prop_assert_eq!(verified.link(), Some(link.as_str()));
            prop_assert_eq!(verified.url(), Some(destination.as_str()));
        } else {
            prop_assert_eq!(verified.link(), None);
        }
    }
}
