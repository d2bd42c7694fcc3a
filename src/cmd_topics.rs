//! `mailpulse topics create`: create the pipeline's Kafka topics if they are missing.

use anyhow::{Context, Result};
use clap::Subcommand;
use mailpulse_aggregator::topics::{create_topics, pipeline_topics, TopicOutcome};
use mailpulse_config::Config;

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create the events, consent (compacted), dead-letter, salt (compacted) and deliveries
    /// topics.
    Create {
        /// Partitions of the events topic: how many aggregators can share the work.
        #[arg(long, default_value_t = 6)]
        events_partitions: i32,
        /// Replicas of every topic (1 for a single local broker).
        #[arg(long, default_value_t = 1)]
        replication_factor: i32,
    },
}

pub fn run(config: &Config, command: TopicsCommand) -> Result<()> {
    let TopicsCommand::Create {
        events_partitions,
        replication_factor,
    } = command;
    let runtime = crate::cmd_aggregate::small_runtime()?;
    let specs = pipeline_topics(&config.kafka, events_partitions);
    let outcomes = runtime
        .block_on(create_topics(&config.kafka, &specs, replication_factor))
        .context("creating Kafka topics")?;
    for (topic, outcome) in outcomes {
        let what = match outcome {
            TopicOutcome::Created => "created",
            TopicOutcome::AlreadyExisted => "already exists",
        };
        println!("{topic}: {what}");
    }
    Ok(())
}
