//! Finds the local stack through `scripts/stack` (the one place that knows its addresses),
//! starting it when it is down, and stops/starts single services for fault tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use crate::TestkitError;

/// Connection settings of the running local stack, as `scripts/stack env` prints them.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Kafka bootstrap servers (`MAILPULSE_KAFKA_BROKERS`).
    pub kafka_brokers: String,
    /// ClickHouse HTTP endpoint (`MAILPULSE_CLICKHOUSE_URL`).
    pub clickhouse_url: String,
    /// Country MMDB, absolute (`MAILPULSE_EDGE_GEO_DB`).
    pub geo_db: PathBuf,
    /// ASN MMDB in GeoLite2-ASN layout, absolute (`MAILPULSE_EDGE_ASN_DB`).
    pub asn_db: PathBuf,
    /// The stack's data directory, `<repo>/.stack` (`MP_STACK_DIR`).
    pub dir: PathBuf,
}

/// Set to `0` to make [`stack()`] fail on a stack that is down instead of starting it (used to
/// check that tests fail clearly when a service is missing).
const AUTOSTART_VAR: &str = "MP_STACK_AUTOSTART";

/// Checked once per test process; every test after the first gets the cached answer (or the
/// cached failure, so a down stack fails each test fast with the same reason).
static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();

/// The running stack; starts it with `scripts/stack up` if `scripts/stack status` fails.
///
/// # Panics
/// When the stack cannot be brought up, with the script's output: integration tests must not
/// silently pass without their services.
pub fn stack() -> &'static Stack {
    match try_stack() {
        Ok(stack) => stack,
        Err(error) => panic!("{error}"),
    }
}

/// As [`stack()`], returning the failure instead of panicking.
pub fn try_stack() -> Result<&'static Stack, TestkitError> {
    STACK
        .get_or_init(|| {
            ensure_up()
                .and_then(|()| read_env())
                .map_err(|error| match error {
                    // Re-wrapped below; keep the message, not its "local stack:" prefix.
                    TestkitError::Stack(message) => message,
                    other => other.to_string(),
                })
        })
        .as_ref()
        .map_err(|message| TestkitError::Stack(message.clone()))
}

fn ensure_up() -> Result<(), TestkitError> {
    let status = run_script(&["status"])?;
    if status.status.success() {
        return Ok(());
    }
    let report = String::from_utf8_lossy(&status.stdout).into_owned();
    if std::env::var(AUTOSTART_VAR).as_deref() == Ok("0") {
        return Err(TestkitError::Stack(format!(
            "the stack is not healthy and {AUTOSTART_VAR}=0 forbids starting it; run \
             `scripts/stack up`. `scripts/stack status` said:\n{report}"
        )));
    }
    let up = run_script(&["up"])?;
    if !up.status.success() {
        return Err(script_failure("up", &up));
    }
    let status = run_script(&["status"])?;
    if !status.status.success() {
        return Err(script_failure("status (after a successful up)", &status));
    }
    Ok(())
}

fn read_env() -> Result<Stack, TestkitError> {
    let output = run_script(&["env"])?;
    if !output.status.success() {
        return Err(script_failure("env", &output));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let vars = parse_exports(&text)?;
    let get = |name: &str| {
        vars.get(name).cloned().ok_or_else(|| {
            TestkitError::Stack(format!("`scripts/stack env` did not print {name}:\n{text}"))
        })
    };
    Ok(Stack {
        kafka_brokers: get("MAILPULSE_KAFKA_BROKERS")?,
        clickhouse_url: get("MAILPULSE_CLICKHOUSE_URL")?,
        geo_db: get("MAILPULSE_EDGE_GEO_DB")?.into(),
        asn_db: get("MAILPULSE_EDGE_ASN_DB")?.into(),
        dir: get("MP_STACK_DIR")?.into(),
    })
}

/// Parses `export NAME=VALUE` lines. The script quotes with `printf %q`, which leaves the
/// values we print (addresses, plain paths) bare; anything it had to escape is refused rather
/// than misread.
fn parse_exports(text: &str) -> Result<HashMap<String, String>, TestkitError> {
    let mut vars = HashMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let parsed = line
            .strip_prefix("export ")
            .and_then(|assignment| assignment.split_once('='))
            .filter(|(_, value)| !value.contains(['\\', '\'', '"', '$']));
        let Some((name, value)) = parsed else {
            return Err(TestkitError::Stack(format!(
                "cannot read `{line}` from `scripts/stack env` (expected export NAME=VALUE \
                 without quoting; is the repository path unusual?)"
            )));
        };
        vars.insert(name.to_string(), value.to_string());
    }
    Ok(vars)
}

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/stack")
}

fn run_script(args: &[&str]) -> Result<Output, TestkitError> {
    let script = script_path();
    Command::new(&script).args(args).output().map_err(|error| {
        TestkitError::Stack(format!(
            "cannot run {} {}: {error}",
            script.display(),
            args.join(" ")
        ))
    })
}

fn script_failure(what: &str, output: &Output) -> TestkitError {
    TestkitError::Stack(format!(
        "`scripts/stack {what}` failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// A service of the stack that a fault test can take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Kafka,
    ClickHouse,
}

impl Service {
    fn component(self) -> &'static str {
        match self {
            Service::Kafka => "kafka",
            Service::ClickHouse => "clickhouse",
        }
    }
}

/// A service stopped for a fault test (`scripts/stack down <service> --hold <pid>`, data kept).
/// Restarted by [`Outage::end`] or, should the test panic first, on `Drop`, so one failing
/// fault test does not take the service away from the tests after it. Meanwhile other
/// processes' `scripts/stack up` (and so their [`stack()`]) wait for it instead of restarting
/// the service.
///
/// The stack is shared: keep fault tests in their own test binary with one test each (or
/// `--test-threads=1`), or concurrent tests of that binary see the outage too.
#[must_use = "the service comes back when the Outage is dropped"]
#[derive(Debug)]
pub struct Outage {
    service: Service,
    ended: bool,
}

impl Outage {
    /// Stops `service`; returns once it no longer listens.
    pub fn begin(service: Service) -> Result<Outage, TestkitError> {
        // Settle the stack (and the cached settings) first: a later `stack()` call must not
        // restart the service behind the test's back.
        try_stack()?;
        OUTAGES.enter(service);
        // From here on the Outage exists, so a failure below still releases the service.
        let outage = Outage {
            service,
            ended: false,
        };
        // The hold keeps `scripts/stack up` of other test processes from restarting the
        // service mid-outage; it lapses by itself if this process dies.
        let pid = std::process::id().to_string();
        let output = run_script(&["down", service.component(), "--hold", &pid])?;
        if !output.status.success() {
            return Err(script_failure(
                &format!("down {} --hold {pid}", service.component()),
                &output,
            ));
        }
        Ok(outage)
    }

    /// Starts the service again and waits until it is healthy.
    pub fn end(mut self) -> Result<(), TestkitError> {
        self.ended = true;
        let restarted = restart(self.service);
        OUTAGES.leave(self.service);
        restarted
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.ended {
            if let Err(error) = restart(self.service) {
                eprintln!(
                    "testkit: could not restart {:?} after an outage: {error}",
                    self.service
                );
            }
            OUTAGES.leave(self.service);
        }
    }
}

/// Outages of one service within a test process, one at a time: the hold is per service, so
/// a second overlapping outage would be released (and the service restarted) by the first.
struct OutageRegistry {
    active: Mutex<Vec<Service>>,
    changed: Condvar,
}

static OUTAGES: OutageRegistry = OutageRegistry {
    active: Mutex::new(Vec::new()),
    changed: Condvar::new(),
};

impl OutageRegistry {
    fn enter(&self, service: Service) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        while active.contains(&service) {
            active = self
                .changed
                .wait(active)
                .unwrap_or_else(PoisonError::into_inner);
        }
        active.push(service);
    }

    fn leave(&self, service: Service) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.retain(|held| *held != service);
        self.changed.notify_all();
    }
}

fn restart(service: Service) -> Result<(), TestkitError> {
    let output = run_script(&["up", service.component(), "--release"])?;
    if output.status.success() {
        Ok(())
    } else {
        Err(script_failure(
            &format!("up {} --release", service.component()),
            &output,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_lines_are_read_into_settings() {
        let vars = parse_exports(
            "export MAILPULSE_KAFKA_BROKERS=127.0.0.1:9092\nexport MP_STACK_DIR=/repo/.stack\n",
        )
        .expect("plain export lines parse");
        assert_eq!(vars["MAILPULSE_KAFKA_BROKERS"], "127.0.0.1:9092");
        assert_eq!(vars["MP_STACK_DIR"], "/repo/.stack");
    }

    #[test]
    fn escaped_values_are_refused_rather_than_misread() {
        let error = parse_exports("export MP_STACK_DIR=/my\\ repo/.stack\n")
            .expect_err("a shell-escaped value must not be taken literally");
        assert!(error.to_string().contains("MP_STACK_DIR"), "{error}");
    }

    #[test]
    fn the_stack_script_is_found_from_the_crate() {
        assert!(
            script_path().is_file(),
            "{} missing",
            script_path().display()
        );
    }
}
