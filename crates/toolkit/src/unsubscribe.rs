//! One-click unsubscribe headers (RFC 2369 `List-Unsubscribe`, RFC 8058
//! `List-Unsubscribe-Post`). Mailbox providers POST `List-Unsubscribe=One-Click` to the URL;
//! the edge answers `POST /u/{token}`.

use crate::ToolkitError;

pub const LIST_UNSUBSCRIBE: &str = "List-Unsubscribe";
pub const LIST_UNSUBSCRIBE_POST: &str = "List-Unsubscribe-Post";
/// The only value RFC 8058 allows for `List-Unsubscribe-Post` (and the POST body it asks for).
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// Longest `mailto:` we put in a header (a header line should stay well under 998 bytes).
const MAX_MAILTO_LEN: usize = 512;

/// `(List-Unsubscribe value, List-Unsubscribe-Post value)`.
pub fn headers(url: &str, mailto: Option<&str>) -> Result<(String, String), ToolkitError> {
    let mut list_unsubscribe = format!("<{url}>");
    if let Some(mailto) = mailto {
        let mailto = mailto.trim();
        let address = if mailto
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("mailto:"))
        {
            mailto.to_owned()
        } else {
            format!("mailto:{mailto}")
        };
        check_mailto(&address)?;
        list_unsubscribe.push_str(", <");
        list_unsubscribe.push_str(&address);
        list_unsubscribe.push('>');
    }
    Ok((list_unsubscribe, ONE_CLICK.to_owned()))
}

fn check_mailto(address: &str) -> Result<(), ToolkitError> {
    if address.len() > MAX_MAILTO_LEN {
        return Err(ToolkitError::Mailto("longer than 512 bytes"));
    }
    // Inside `<…>` in a header: no angle brackets, no line breaks, nothing non-ASCII (RFC 2369
    // wants a URI; non-ASCII must be percent-encoded).
    if !address.bytes().all(|b| b.is_ascii_graphic()) || address.contains(['<', '>', ',']) {
        return Err(ToolkitError::Mailto(
            "must be printable ASCII without spaces, `<`, `>` or `,` (percent-encode them)",
        ));
    }
    if !address[7..].contains('@') {
        return Err(ToolkitError::Mailto("must contain an address with `@`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_both_headers() {
        let (list, post) = headers("https://t.example/u/TOKEN", None).expect("valid");
        assert_eq!(list, "<https://t.example/u/TOKEN>");
        assert_eq!(post, "List-Unsubscribe=One-Click");
        let (list, _) = headers(
            "https://t.example/u/TOKEN",
            Some("unsub@lists.example?subject=unsubscribe"),
        )
        .expect("valid");
        assert_eq!(
            list,
            "<https://t.example/u/TOKEN>, <mailto:unsub@lists.example?subject=unsubscribe>"
        );
        let (list, _) =
            headers("https://t.example/u/T", Some("MAILTO:u@x.example")).expect("valid");
        assert_eq!(list, "<https://t.example/u/T>, <MAILTO:u@x.example>");
    }

    #[test]
    fn refuses_mailtos_that_could_break_the_header() {
        for bad in [
            "u@x.example\r\nBcc: victim@example.com",
            "u@x.example>, <https://evil.example/",
            "no-at-sign",
            "u @x.example",
            "ü@x.example",
        ] {
            assert!(
                matches!(
                    headers("https://t/u/T", Some(bad)),
                    Err(ToolkitError::Mailto(_))
                ),
                "accepted {bad:?}"
            );
        }
    }
}
