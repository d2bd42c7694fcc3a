//! Poison messages (not JSON, an unknown schema version, invalid fields, not UTF-8) go to the
//! dead-letter topic with their reason and origin; the rest of the partition is still counted.

mod aggregator_common;

use std::time::Duration;

use aggregator_common::*;
use mailpulse_event::EventKind;

fn header<'a>(message: &'a mailpulse_testkit::ConsumedMessage, key: &str) -> &'a str {
    message
        .headers
        .iter()
        .find(|(name, _)| name == key)
        .and_then(|(_, value)| value.as_deref())
        .and_then(|value| std::str::from_utf8(value).ok())
        .unwrap_or_else(|| panic!("dead letter lacks header {key}: {message:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dead_letter_topic_and_the_partition_moves_on() {
    // One partition: the poison sits between good events of the same partition.
    let env = TestEnv::new("agg_dlq", 1).await;
    let brokers = env.config.kafka.brokers.clone();
    let topic = env.events.name().to_string();
    let base = now_ms() - 3_600_000;
    let good: Vec<_> = (0..40)
        .map(|i| event(EventKind::Open, &format!("dlq-sub-{i}"), base + i * 1000))
        .collect();
    let mut wrong_version = event(EventKind::Open, "dlq-x", base).to_json();
    wrong_version = String::from_utf8(wrong_version)
        .expect("JSON is UTF-8")
        .replacen("\"v\":1", "\"v\":99", 1)
        .into_bytes();
    let mut bad_visitor = event(EventKind::Open, "dlq-y", base);
    bad_visitor.visitor = "not-hex".into();
    let poison: Vec<(&str, Vec<u8>)> = vec![
        ("json", b"this is not json".to_vec()),
        ("version", wrong_version),
        ("visitor", bad_visitor.to_json()),
        ("utf8", vec![0xff, 0xfe, 0x00, 0x7b]),
    ];

    produce_events(&brokers, &topic, &good[..20]).await;
    for (name, payload) in &poison {
        produce_raw(&brokers, &topic, name.as_bytes(), payload).await;
    }
    produce_events(&brokers, &topic, &good[20..]).await;

    let aggregator = InProcess::start(&env.config);
    assert_converges_to(&env.client(), &Truth::of(&good), Duration::from_secs(60)).await;
    let dead = mailpulse_testkit::consume(env.dlq.name(), poison.len() + 1, Duration::from_secs(5))
        .await
        .expect("dead-letter topic readable");
    assert_eq!(aggregator.skipped("dlq"), poison.len() as u64);
    aggregator.stop().await;

    assert_eq!(dead.len(), poison.len(), "exactly the poison, once each");
    for ((name, payload), letter) in poison.iter().zip(&dead) {
        assert_eq!(
            letter.key.as_deref(),
            Some(name.as_bytes()),
            "original key kept"
        );
        assert_eq!(
            letter.payload.as_deref(),
            Some(payload.as_slice()),
            "original bytes kept"
        );
        assert_eq!(header(letter, "mailpulse-dlq-topic"), topic);
        assert_eq!(header(letter, "mailpulse-dlq-partition"), "0");
        let offset: i64 = header(letter, "mailpulse-dlq-offset")
            .parse()
            .expect("offset is a number");
        assert!(
            (20..24).contains(&offset),
            "origin offset {offset} of {name}"
        );
        assert!(!header(letter, "mailpulse-dlq-reason").is_empty());
    }
    assert!(header(&dead[1], "mailpulse-dlq-reason").contains("version 99"));
    assert!(header(&dead[2], "mailpulse-dlq-reason").contains("visitor"));
}
