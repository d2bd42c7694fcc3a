//! Tracking tokens: compact signed pixel, click and unsubscribe tokens and URL minting
