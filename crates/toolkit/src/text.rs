//! Bare URLs in `text/plain`: where one starts and, harder, where it ends.
//!
//! A URL starts at `http://` or `https://` (any case) not glued to a preceding word, and runs to
//! whitespace or a character that cannot be in a URL in running text (`<`, `>`, `"`, a
//! backtick). Then, as mail clients' auto-linkers do, trailing sentence punctuation is dropped
//! and a closing bracket is dropped unless the URL opened it: `(see https://x.test/a_(b))`
//! keeps `a_(b)`, `<https://x.test/>` yields `https://x.test/`.

use std::ops::Range;

/// Byte ranges of the URLs in `text`, in order.
pub fn find_urls(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut urls = Vec::new();
    let mut at = 0;
    while let Some(found) = next_scheme(bytes, at) {
        let end = url_end(text, found);
        if end > found + scheme_len(bytes, found) {
            urls.push(found..end);
        }
        at = end.max(found + 1);
    }
    urls
}

/// Position of the next `http://` / `https://` at or after `from` that starts a word.
fn next_scheme(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        // Cheap skip to the next `h`/`H` before comparing whole prefixes.
        at += bytes.get(at..)?.iter().position(|b| b | 0x20 == b'h')?;
        let word_start =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'/');
        if word_start && scheme_len(bytes, at) > 0 {
            return Some(at);
        }
        at += 1;
    }
}

/// Length of the `http://` or `https://` at `at`, else 0.
fn scheme_len(bytes: &[u8], at: usize) -> usize {
    let starts = |prefix: &[u8]| {
        bytes
            .get(at..at + prefix.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(prefix))
    };
    if starts(b"https://") {
        8
    } else if starts(b"http://") {
        7
    } else {
        0
    }
}

fn url_end(text: &str, start: usize) -> usize {
    let run = text[start..]
        .find(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`'))
        .map_or(text.len(), |len| start + len);
    let mut end = run;
    loop {
        let url = &text[start..end];
        let Some(last) = url.chars().next_back() else {
            break;
        };
        let unbalanced = |open: char, close: char| {
            last == close && url.matches(close).count() > url.matches(open).count()
        };
        // `_` is kept: it ends real URLs more often than it closes `_emphasis_`.
        let drop = matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
            || unbalanced('{', '}');
        if !drop {
            break;
        }
        end -= last.len_utf8();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<&str> {
        find_urls(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn finds_urls_with_sensible_boundaries() {
        let text = "Shop now: https://shop.example/spring?utm=mail. Or (see https://wiki.example/A_(b)), \
                    <https://angle.example/x> \"https://quoted.example/\" HTTPS://UPPER.example/Path!\n\
                    https://end.example/a?b=c&d=e";
        assert_eq!(
            urls(text),
            [
                "https://shop.example/spring?utm=mail",
                "https://wiki.example/A_(b)",
                "https://angle.example/x",
                "https://quoted.example/",
                "HTTPS://UPPER.example/Path",
                "https://end.example/a?b=c&d=e",
            ]
        );
    }

    #[test]
    fn ignores_what_is_not_a_url_start() {
        assert!(urls("xhttps://glued.example/ http:// https:/one-slash.example").is_empty());
        assert_eq!(
            urls("https://a.example/(x) [https://b.example/]"),
            ["https://a.example/(x)", "https://b.example/"]
        );
        assert_eq!(urls("ünï https://ü.example/é…"), ["https://ü.example/é…"]);
    }
}
