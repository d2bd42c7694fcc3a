//! Visitor pseudonymisation: keyed hashes under a forward-only daily salt ratchet
