//! The senders' toolkit: rewriting about 1 MB of marketing HTML (the corpus's 190 KB digest,
//! five times over: ~1 800 links, each signed) for one recipient, the same without links (the
//! tokenizer alone), and 1 MB of `text/plain`. Throughput in bytes of input.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailpulse_toolkit::{KeyRing, Recipient, RewriteOptions, Rewriter, UrlMinter};

const TARGET_BYTES: usize = 1 << 20;

const RECIPIENT: Recipient<'static> = Recipient {
    tenant: "acme-corp",
    campaign: "2026-spring-digest",
    subscriber: "sub-0001234567",
};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/emails")
        .join(name);
    std::fs::read(path).expect("corpus fixture")
}

/// The digest's body repeated inside one document until it reaches about `TARGET_BYTES`.
fn one_megabyte_of_html() -> Vec<u8> {
    let digest = String::from_utf8(fixture("digest_large.html")).expect("UTF-8 fixture");
    let body_start = digest.find("<body").expect("body");
    let inner_start = body_start + digest[body_start..].find('>').expect("tag end") + 1;
    let inner_end = digest.rfind("</body>").expect("</body>");
    let (head, inner, tail) = (
        &digest[..inner_start],
        &digest[inner_start..inner_end],
        &digest[inner_end..],
    );
    let mut html = String::from(head);
    while html.len() + inner.len() + tail.len() <= TARGET_BYTES {
        html.push_str(inner);
    }
    html.push_str(tail);
    html.into_bytes()
}

fn rewriter() -> Rewriter {
    let keys = KeyRing::from_keys([("bench", [0x42; 32])], "").expect("key ring");
    let minter = UrlMinter::new("https://t.example.com", keys).expect("minter");
    Rewriter::new(minter, RewriteOptions::default()).expect("rewriter")
}

fn rewrite(c: &mut Criterion) {
    let rewriter = rewriter();
    let html = one_megabyte_of_html();
    let (_, report) = rewriter
        .rewrite_html_with_report(&html, &RECIPIENT)
        .expect("rewrites");
    // Same size, no links: what the tokenizer and splice cost without signing.
    let unlinked = String::from_utf8(html.clone())
        .expect("UTF-8")
        .replace("<a href=", "<b data=");
    let text = {
        let unit = String::from_utf8(fixture("newsletter.txt")).expect("UTF-8");
        unit.repeat(TARGET_BYTES / unit.len())
    };
    eprintln!(
        "html: {} bytes, {} links signed; text: {} bytes",
        html.len(),
        report.tracked,
        text.len()
    );

    let mut group = c.benchmark_group("rewrite");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(html.len() as u64));
    group.bench_function("html_1mb_1800_links", |b| {
        b.iter(|| rewriter.rewrite_html(black_box(&html), &RECIPIENT))
    });
    group.throughput(Throughput::Bytes(unlinked.len() as u64));
    group.bench_function("html_1mb_no_links", |b| {
        b.iter(|| rewriter.rewrite_html(black_box(unlinked.as_bytes()), &RECIPIENT))
    });
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("text_1mb", |b| {
        b.iter(|| rewriter.rewrite_text(black_box(&text), &RECIPIENT))
    });
    group.finish();
}

criterion_group!(benches, rewrite);
criterion_main!(benches);
