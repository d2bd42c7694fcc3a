//! Senders' toolkit: HTML/text rewriting with signed links and pixels, unsubscribe headers
