//! The edge HTTP service: pixel, click redirects, pseudonymisation, Kafka hand-off
