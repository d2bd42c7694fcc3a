//! Property tests: on arbitrary input — HTML-shaped soup and raw bytes — the rewriter never
//! fails or panics, changes nothing but link values (plus the two pixels), signs only tokens
//! that verify, and a second rewrite is a no-op.

mod toolkit_common;

use mailpulse_event::EventKind;
use proptest::prelude::*;
use toolkit_common::*;

/// Pieces that drive the tokenizer into every state a real email can: links of every kind,
/// quoting styles, comments (conditional or not), raw-text elements, entities, stray `<`/`&`.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<a href=\"https://x.example/a?b=1&amp;c=2\">".to_string()),
        Just("<A HREF=https://y.example/Up>".to_string()),
        Just("<a href='https://q.example/it&#39;s'>".to_string()),
        Just("<a href=\"rel/path?x=1\">".to_string()),
        Just("<a href=\"#top\">".to_string()),
        Just("<a href=\"mailto:a@b.example\">".to_string()),
        Just("<a href=\"{{unsubscribe}}\">".to_string()),
        Just("<a data-mp-unsubscribe href=\"https://u.example/\">".to_string()),
        Just("<a data-mp-notrack href=\"https://n.example/\">".to_string()),
        Just("<a data-mp-link=\"named\" href=\"https://named.example/\">".to_string()),
        Just("<area href=\"https://map.example/\">".to_string()),
        Just("<v:roundrect href=\"https://vml.example/\">".to_string()),
        Just("</a>".to_string()),
        Just("<base href=\"https://base.example/dir/\">".to_string()),
        Just("<html>".to_string()),
        Just("</html>".to_string()),
        Just("<head>".to_string()),
        Just("</head>".to_string()),
        Just("<body class=x>".to_string()),
        Just("</body>".to_string()),
        Just("<!DOCTYPE html>".to_string()),
        Just("<!--[if mso]>".to_string()),
        Just("<![endif]-->".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("<img src=\"https://img.example/i.png\">".to_string()),
        Just("<script>".to_string()),
        Just("</script>".to_string()),
        Just("<style>".to_string()),
        Just("<textarea>".to_string()),
        Just("<svg>".to_string()),
        Just("<table><tr><td>".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just("&".to_string()),
        Just("&amp;".to_string()),
        Just("https://bare.example/in-text".to_string()),
        "[a-zA-Z0-9 .,:;/?=#\\n-]{0,24}",
        "\\PC{0,8}",
    ]
}

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat().into_bytes())
}

/// The rewrite of `input`, checked: pixels where expected, every other byte the input's except
/// whole link values, and every token genuine.
fn check(input: &[u8]) {
    let rewriter = rewriter(&["{{unsubscribe}}".to_string()]);
    let (output, report) = rewriter
        .rewrite_html_with_report(input, &RECIPIENT)
        .expect("rewriting never fails on any input");
    let (without_pixels, pixels) = strip_pixels(&output);
    // A pixel is left out only where it would land inside a broken tag at the very end.
    assert!(
        report.pixels <= 2,
        "a top pixel and an end pixel, where they fit"
    );
    assert_eq!(pixels.len(), report.pixels);
    let spans = replaced_spans(input, &without_pixels);
    assert_eq!(spans.len(), report.tracked + report.unsubscribe);
    for span in &spans {
        let token = verified(&span.url.token);
        let expected_kind = match span.url.route {
            'c' => EventKind::Click,
            _ => EventKind::Unsubscribe,
        };
        assert_eq!(token.kind(), expected_kind);
    }
    let (again, second) = rewriter
        .rewrite_html_with_report(&output, &RECIPIENT)
        .expect("second rewrite");
    assert_eq!(second.tracked + second.unsubscribe + second.pixels, 0);
    assert!(again == output, "second rewrite is a no-op");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn html_soup_keeps_every_byte_but_link_values(input in soup()) {
        check(&input);
    }

    #[test]
    fn raw_bytes_keep_every_byte_but_link_values(input in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&input);
    }

    #[test]
    fn text_rewrite_keeps_every_byte_but_urls(input in soup()) {
        let text = String::from_utf8_lossy(&input).into_owned();
        let rewriter = rewriter(&["{{unsubscribe}}".to_string()]);
        let output = rewriter.rewrite_text(&text, &RECIPIENT).expect("rewrites");
        let spans = replaced_spans(text.as_bytes(), output.as_bytes());
        for span in &spans {
            let token = verified(&span.url.token);
            if span.url.route == 'c' {
                // Plain text has no character references: the URL is taken as written.
                let expected = url::Url::parse(&span.original).expect("a found URL parses");
                prop_assert_eq!(token.url(), Some(expected.as_str()));
            } else {
                prop_assert_eq!(span.original.as_str(), "{{unsubscribe}}");
            }
        }
        let again = rewriter.rewrite_text(&output, &RECIPIENT).expect("rewrites");
        prop_assert_eq!(again, output);
    }
}
