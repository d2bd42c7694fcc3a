//! The senders' toolkit against a corpus of real-world-shaped marketing emails
//! (`tests/fixtures/emails/`): counts match what the markup says, every byte that is not a
//! replaced link value is the input's, every token verifies and names the right destination,
//! pixels sit where Gmail's clipping cannot hide the top one, and a second rewrite is a no-op.

mod toolkit_common;

use std::collections::BTreeMap;

use mailpulse_event::EventKind;
use mailpulse_token::link_id_for;
use mailpulse_toolkit::{Recipient, RewriteOptions, Rewriter, UrlMinter};
use toolkit_common::*;

/// Gmail clips a message whose HTML exceeds about 102 KB.
const GMAIL_CLIP_BYTES: usize = 102 * 1024;

#[test]
fn every_fixture_changes_only_link_values_and_counts_match_the_manifest() {
    let manifest = manifest();
    let rewriter = rewriter(&manifest.placeholders);
    assert_eq!(manifest.html.len(), 9, "the whole corpus is listed");
    for (name, expected) in &manifest.html {
        let input = fixture(name);
        let (output, report) = rewriter
            .rewrite_html_with_report(&input, &RECIPIENT)
            .expect("rewrites");
        assert_eq!(report.tracked, expected.tracked, "{name}: tracked links");
        assert_eq!(
            report.unsubscribe, expected.unsubscribe,
            "{name}: unsubscribe links"
        );
        let left = report.not_web
            + report.anchors
            + report.relative
            + report.no_track
            + report.already_tracked
            + report.unsignable
            + report.invalid;
        assert_eq!(left, expected.left, "{name}: links left alone ({report:?})");
        assert_eq!(report.pixels, 2, "{name}: two pixels");

        let (without_pixels, pixels) = strip_pixels(&output);
        check_pixels(name, &pixels);
        let spans = replaced_spans(&input, &without_pixels);
        assert_eq!(
            spans.len(),
            expected.tracked + expected.unsubscribe,
            "{name}: replaced values"
        );
        let base = base_of(&input);
        for span in &spans {
            let token = verified(&span.url.token);
            assert_eq!(
                (token.tenant(), token.campaign(), token.subscriber()),
                (RECIPIENT.tenant, RECIPIENT.campaign, RECIPIENT.subscriber),
                "{name}: token names the recipient"
            );
            match span.url.route {
                'c' => {
                    assert_eq!(token.kind(), EventKind::Click);
                    let destination = token.url().expect("click has a destination");
                    assert_eq!(
                        destination,
                        expected_destination(&span.original, base.as_deref()),
                        "{name}: {:?} redirects where a browser would go",
                        span.original
                    );
                    let link = token.link().expect("click has a link id");
                    if destination.contains("/spring-launch/rsvp") {
                        assert_eq!(link, "rsvp-button", "data-mp-link names the link");
                    } else {
                        assert_eq!(link, link_id_for(RECIPIENT.campaign, destination));
                    }
                }
                'u' => {
                    assert_eq!(token.kind(), EventKind::Unsubscribe);
                    assert!(
                        manifest.placeholders.contains(&span.original)
                            || span.original == "https://events.example.org/account",
                        "{name}: unsubscribe replaced {:?}",
                        span.original
                    );
                }
                other => panic!("{name}: unexpected route {other} in a link"),
            }
        }
    }
}

/// Two pixels of the recipient: `/o/TOKEN` at the top, `/o/TOKEN.gif?at=end` (the end pixel,
/// not counted as another open) at the bottom.
fn check_pixels(name: &str, pixels: &[String]) {
    assert_eq!(pixels.len(), 2, "{name}: pixel tags found");
    let top_token = pixels[0]
        .strip_prefix(&format!("{BASE}/o/"))
        .expect("top pixel URL");
    assert_eq!(
        pixels[1],
        format!("{}.gif?at=end", pixels[0]),
        "{name}: bottom pixel"
    );
    let token = verified(top_token);
    assert_eq!(token.kind(), EventKind::Open);
    assert_eq!(token.subscriber(), RECIPIENT.subscriber);
}

#[test]
fn the_top_pixel_survives_gmail_clipping_and_the_bottom_one_closes_the_body() {
    let rewriter = rewriter(&manifest().placeholders);
    let input = fixture("digest_large.html");
    assert!(
        input.len() > GMAIL_CLIP_BYTES,
        "the fixture would be clipped"
    );
    let output = rewriter.rewrite_html(&input, &RECIPIENT).expect("rewrites");
    let text = String::from_utf8(output).expect("UTF-8 in, UTF-8 out");
    let body_open = text.find("<body").expect("body");
    let body_tag_end = body_open + text[body_open..].find('>').expect("tag ends") + 1;
    let top = text
        .find("<img src=\"https://t.mailpulse.test/o/")
        .expect("top pixel");
    assert_eq!(top, body_tag_end, "top pixel right after <body…>");
    assert!(top < GMAIL_CLIP_BYTES);
    let bottom = text
        .rfind("<img src=\"https://t.mailpulse.test/o/")
        .expect("bottom pixel");
    let bottom_end = bottom + text[bottom..].find("/>").expect("tag ends") + 2;
    assert!(
        text[bottom_end..].starts_with("</body>"),
        "bottom pixel right before </body>"
    );

    // No body, head or html: the pixels open and close the fragment.
    let fragment = fixture("fragment_no_body.html");
    let output = rewriter
        .rewrite_html(&fragment, &RECIPIENT)
        .expect("rewrites");
    assert!(output.starts_with(b"<img src=\"https://t.mailpulse.test/o/"));
    assert!(output.ends_with(b".gif?at=end\" width=\"1\" height=\"1\" alt=\"\" border=\"0\" style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0\" />"));

    // No </body> (broken markup): the bottom pixel goes at the very end.
    let broken = rewriter
        .rewrite_html(&fixture("broken_markup.html"), &RECIPIENT)
        .expect("rewrites");
    assert!(broken.ends_with(b"padding:0\" />"));
}

#[test]
fn rewriting_a_rewritten_message_changes_nothing() {
    let manifest = manifest();
    let rewriter = rewriter(&manifest.placeholders);
    for (name, expected) in &manifest.html {
        let once = rewriter
            .rewrite_html(&fixture(name), &RECIPIENT)
            .expect("first rewrite");
        let (twice, report) = rewriter
            .rewrite_html_with_report(&once, &RECIPIENT)
            .expect("second rewrite");
        assert!(once == twice, "{name}: second rewrite changed the message");
        assert_eq!(report.tracked, 0, "{name}");
        assert_eq!(report.pixels, 0, "{name}: no second pair of pixels");
        assert_eq!(
            report.already_tracked,
            expected.tracked + expected.unsubscribe,
            "{name}: every tracking link recognised"
        );
    }
}

#[test]
fn an_end_pixel_alone_is_recognised_as_ours() {
    let rewriter = rewriter(&manifest().placeholders);
    let once = rewriter
        .rewrite_html(b"<html><body><p>Hi</p></body></html>", &RECIPIENT)
        .expect("first rewrite");
    let (_, pixels) = strip_pixels(&once);
    let end_pixel = &pixels[1];
    assert!(end_pixel.ends_with(".gif?at=end"), "{end_pixel}");
    // A template that kept only the bottom pixel of an earlier rewrite gets no new pair.
    let kept = format!("<html><body><p>Hi</p><img src=\"{end_pixel}\" /></body></html>");
    let (again, report) = rewriter
        .rewrite_html_with_report(kept.as_bytes(), &RECIPIENT)
        .expect("second rewrite");
    assert_eq!(report.pixels, 0, "the ?at=end pixel is ours");
    assert_eq!(again, kept.as_bytes());
}

#[test]
fn a_link_has_the_same_id_for_every_recipient_and_a_token_per_recipient() {
    let rewriter = rewriter(&manifest().placeholders);
    let input = fixture("newsletter_tables.html");
    let links_of = |subscriber: &str| {
        let recipient = Recipient {
            subscriber,
            ..RECIPIENT
        };
        let output = rewriter.rewrite_html(&input, &recipient).expect("rewrites");
        let mut links = BTreeMap::new();
        for url in tracking_urls(&output)
            .into_iter()
            .filter(|u| u.route == 'c')
        {
            let token = verified(&url.token);
            assert_eq!(token.subscriber(), subscriber);
            links.insert(
                token.link().expect("link").to_string(),
                (token.url().expect("url").to_string(), url.token),
            );
        }
        links
    };
    let first = links_of("sub-1");
    let second = links_of("sub-2");
    // 15 links, two products linked twice: 13 distinct destinations.
    assert_eq!(first.len(), 13);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (link, (destination, token)) in &first {
        assert_eq!(&second[link].0, destination);
        assert_ne!(&second[link].1, token, "tokens are per recipient");
    }
}

#[test]
fn conditional_comments_stay_byte_identical_when_asked() {
    let minter = UrlMinter::new(BASE, keyring()).expect("minter");
    let options = RewriteOptions {
        rewrite_conditional_comments: false,
        ..RewriteOptions::default()
    };
    let rewriter = Rewriter::new(minter, options).expect("rewriter");
    let input = fixture("bulletproof_buttons.html");
    let (output, report) = rewriter
        .rewrite_html_with_report(&input, &RECIPIENT)
        .expect("rewrites");
    // The VML button and the <a> inside `<!--[if mso]>` are no longer wrapped.
    assert_eq!(report.tracked, 3);
    let text = String::from_utf8(output).expect("utf-8");
    assert!(text.contains("data-mp-link=\"rsvp-button\" href=\"https://events.example.org/spring-launch/rsvp?id=4471&amp;src=email\""));
    let comments = |html: &str| -> Vec<String> {
        html.split("<!--")
            .skip(1)
            .map(|rest| rest.split("-->").next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        comments(&text),
        comments(&String::from_utf8(input).expect("utf-8"))
    );
}

#[test]
fn plain_text_urls_are_wrapped_with_sensible_boundaries() {
    let manifest = manifest();
    let rewriter = rewriter(&manifest.placeholders);
    let input = fixture("newsletter.txt");
    let text = std::str::from_utf8(&input).expect("utf-8");
    let output = rewriter.rewrite_text(text, &RECIPIENT).expect("rewrites");
    let spans = replaced_spans(&input, output.as_bytes());
    let expected = &manifest.text["newsletter.txt"];
    let originals: Vec<&str> = spans.iter().map(|s| s.original.as_str()).collect();
    assert_eq!(
        originals,
        [
            "https://www.northwind.example/spring?utm_source=newsletter&utm_medium=email",
            "https://www.northwind.example/members",
            "https://blog.northwind.example/2024/03/linen-care",
            "https://en.wikipedia.example/wiki/Linen_(fabric)",
            "https://www.northwind.example/stores",
            "https://t.mailpulse.test/c/AAAA",
            "{{unsubscribe}}",
        ]
    );
    // The already tracked URL is its own original: found in the output, but unchanged.
    let wrapped: Vec<_> = spans.iter().filter(|s| s.url.token != "AAAA").collect();
    assert_eq!(wrapped.len(), expected.tracked + expected.unsubscribe);
    for span in wrapped {
        let token = verified(&span.url.token);
        if span.url.route == 'u' {
            assert_eq!(token.kind(), EventKind::Unsubscribe);
        } else {
            assert_eq!(
                token.url(),
                Some(expected_destination(&span.original, None).as_str())
            );
        }
    }
    assert!(output.contains("ftp://files.northwind.example/catalogue.pdf"));
    assert!(output.contains("write to\ncare@northwind.example."));
}

#[test]
fn list_unsubscribe_headers_carry_the_recipients_one_click_url() {
    let rewriter = rewriter(&manifest().placeholders);
    let (list, post) = rewriter
        .list_unsubscribe_headers(&RECIPIENT, Some("unsubscribe@lists.example?subject=stop"))
        .expect("headers");
    assert_eq!(post, "List-Unsubscribe=One-Click");
    let url = list
        .strip_prefix('<')
        .and_then(|rest| rest.split_once(">, <mailto:unsubscribe@lists.example?subject=stop>"))
        .map(|(url, tail)| {
            assert!(tail.is_empty());
            url
        })
        .expect("<url>, <mailto>");
    let token = verified(url.strip_prefix(&format!("{BASE}/u/")).expect("/u/ URL"));
    assert_eq!(token.kind(), EventKind::Unsubscribe);
    assert_eq!(token.subscriber(), RECIPIENT.subscriber);
}

#[test]
fn a_recipient_that_cannot_be_signed_is_an_error_not_a_silent_copy() {
    let rewriter = rewriter(&manifest().placeholders);
    let bad = Recipient {
        subscriber: "",
        ..RECIPIENT
    };
    assert!(rewriter
        .rewrite_html(b"<a href=\"https://x.example/\">x</a>", &bad)
        .is_err());
    assert!(rewriter.rewrite_text("https://x.example/", &bad).is_err());
}

/// Found by `scripts/check-fuzz` (fuzz/regressions/toolkit_rewrite): a message that ends inside
/// an unterminated tag. Appending the end pixel there completed that tag, so a second rewrite
/// wrapped a link the first had not seen. Now the end pixel is left out and nothing changes.
#[test]
fn a_message_ending_inside_a_broken_tag_gets_one_pixel_and_stays_idempotent() {
    let rewriter = rewriter(&[]);
    let html =
        b"<p>Hi</p>\n<a href=\"https://shop.example.com/?a=1&amp;b=2\" target=\"_b</body>\n</html>";
    let (once, report) = rewriter
        .rewrite_html_with_report(html, &RECIPIENT)
        .expect("rewrite");
    assert_eq!(report.pixels, 1, "only the top pixel");
    let (twice, second) = rewriter
        .rewrite_html_with_report(&once, &RECIPIENT)
        .expect("second rewrite");
    assert_eq!(second.tracked + second.unsubscribe + second.pixels, 0);
    assert_eq!(twice, once, "a second rewrite changes nothing");
    // A well-formed message without </body> still gets its end pixel at the very end.
    let (_, report) = rewriter
        .rewrite_html_with_report(
            b"<p>Hi <a href=\"https://x.example/\">x</a></p>",
            &RECIPIENT,
        )
        .expect("rewrite");
    assert_eq!(report.pixels, 2);
}

/// Also found by the rewrite fuzz target: a message that is nothing but an unterminated
/// doctype. Both pixels would have landed at its very end, inside it; now none is added.
#[test]
fn a_message_that_ends_inside_its_doctype_gets_no_pixel_and_stays_idempotent() {
    let rewriter = rewriter(&[]);
    let html = b"<!doctypelang=\"en\" xmln\"s=http://www. 18\" style=\"display:block";
    let (once, report) = rewriter
        .rewrite_html_with_report(html, &RECIPIENT)
        .expect("rewrite");
    assert_eq!(report.pixels, 0);
    assert_eq!(once, html.to_vec(), "nothing to change");
    let (twice, _) = rewriter
        .rewrite_html_with_report(&once, &RECIPIENT)
        .expect("second rewrite");
    assert_eq!(twice, once);
}
