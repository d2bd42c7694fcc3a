//! `topics create` makes the pipeline's topics with their partition counts and is idempotent.

use std::time::Duration;

use mailpulse_aggregator::topics::{create_topics, pipeline_topics, TopicOutcome};
use mailpulse_testkit::test_config;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_once_with_their_partitions() {
    let config = test_config("agg_topics").expect("the local stack is up");
    let specs = pipeline_topics(&config.kafka, 4);
    let names: Vec<String> = specs.iter().map(|spec| spec.name.clone()).collect();

    let first = create_topics(&config.kafka, &specs, 1)
        .await
        .expect("topics created");
    let second = create_topics(&config.kafka, &specs, 1)
        .await
        .expect("second run succeeds");

    let admin: AdminClient<DefaultClientContext> =
        mailpulse_testkit::kafka_client_config(&config.kafka.brokers)
            .create()
            .expect("admin client");
    let mut partitions = Vec::new();
    for name in &names {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(name), Duration::from_secs(10))
            .expect("metadata");
        partitions.push(metadata.topics()[0].partitions().len());
    }
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let _ = admin.delete_topics(&name_refs, &options).await;

    assert!(
        first
            .iter()
            .all(|(_, outcome)| *outcome == TopicOutcome::Created),
        "{first:?}"
    );
    assert!(
        second
            .iter()
            .all(|(_, outcome)| *outcome == TopicOutcome::AlreadyExisted),
        "{second:?}"
    );
    assert_eq!(
        partitions,
        vec![4, 3, 1, 1, 3],
        "events, consent, dlq, salt, deliveries"
    );
}
