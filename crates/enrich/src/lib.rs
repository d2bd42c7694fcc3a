//! Event enrichment: browser/OS via woothee, email clients, machine-open and bot-click rules
