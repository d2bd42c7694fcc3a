//! Async cleanup from `Drop`. `Drop` may run inside a tokio runtime (whose thread must not
//! `block_on`) or outside any; running the cleanup on a fresh thread with its own small runtime
//! and joining it works in both, including a single-threaded test runtime.

use std::future::Future;
use std::time::Duration;

/// Runs `cleanup` to completion (bounded by `timeout`), reporting failure on stderr: a leftover
/// uniquely named topic or database is untidy but must not fail the test that owned it.
pub(crate) fn run_cleanup<F, Fut, E>(what: String, timeout: Duration, cleanup: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let thread_what = what.clone();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start a runtime: {error}"))?;
        runtime.block_on(async {
            match tokio::time::timeout(timeout, cleanup()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no answer within {timeout:?}")),
            }
        })
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(message)) => eprintln!("testkit: cleanup failed: {thread_what}: {message}"),
        Err(_) => eprintln!("testkit: cleanup panicked: {what}"),
    }
}
