//! A sender's batch of delivery statuses (JSON Lines, one `DeliveryEvent` per line) checked
//! for one tenant: every line is read, and a batch with any bad line is refused whole with a
//! report naming each bad line, so the sender can fix them all and resend.
//!
//! The tenant is the API key's. A line may leave `tenant` out (it is filled in) or name the
//! key's tenant; a line naming any other tenant is refused, so one tenant's key can never
//! write another tenant's statistics.

use mailpulse_aggregator::delivery_ingest::MAX_BATCH_LINES;
use mailpulse_event::DeliveryEvent;
use serde::Serialize;
use serde_json::{Map, Value};

/// Most bad lines a report lists (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRefusal {
    /// Some lines are not valid statuses of this tenant; nothing was published.
    Malformed(BatchReport),
    /// More statuses than one call may publish.
    TooManyLines { max_lines: usize },
}

/// What a refused batch held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Non-blank lines read.
    pub lines: u64,
    pub valid: u64,
    pub errors_total: u64,
    /// The first [`MAX_REPORTED_ERRORS`] bad lines, in order.
    pub errors: Vec<LineError>,
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based line number in the body (blank lines count).
    pub line: u64,
    /// `malformed_json` (not a JSON object), `other_tenant` (names another tenant) or
    /// `invalid_status` (a field is missing, of the wrong type or out of range).
    pub code: &'static str,
    pub message: String,
}

/// The statuses of `body` for `tenant`, or why the batch is refused.
pub fn parse(body: &[u8], tenant: &str) -> Result<Vec<DeliveryEvent>, BatchRefusal> {
    let mut events = Vec::new();
    let mut report = BatchReport::default();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        report.lines += 1;
        if report.lines > MAX_BATCH_LINES as u64 {
            return Err(BatchRefusal::TooManyLines {
                max_lines: MAX_BATCH_LINES,
            });
        }
        match parse_line(line, tenant) {
            Ok(event) => {
                report.valid += 1;
                // Once a line failed, the batch is refused: stop keeping the good ones.
                if report.errors_total == 0 {
                    events.push(event);
                }
            }
            Err((code, message)) => {
                report.errors_total += 1;
                events = Vec::new();
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    report.errors.push(LineError {
                        line: index as u64 + 1,
                        code,
                        message,
                    });
                }
            }
        }
    }
    if report.errors_total > 0 {
        Err(BatchRefusal::Malformed(report))
    } else {
        Ok(events)
    }
}

fn parse_line(line: &[u8], tenant: &str) -> Result<DeliveryEvent, (&'static str, String)> {
    let mut fields: Map<String, Value> =
        serde_json::from_slice(line).map_err(|error| ("malformed_json", error.to_string()))?;
    match fields.get("tenant") {
        None => {
            fields.insert("tenant".into(), Value::String(tenant.to_string()));
        }
        Some(Value::String(named)) if named == tenant => {}
        Some(_) => {
            return Err((
                "other_tenant",
                format!("`tenant` must be left out or be `{tenant}`, the API key's tenant"),
            ))
        }
    }
    let event: DeliveryEvent = serde_json::from_value(Value::Object(fields))
        .map_err(|error| ("invalid_status", error.to_string()))?;
    event
        .validate()
        .map_err(|error| ("invalid_status", error.to_string()))?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpulse_event::DeliveryStatus;

    fn line(subscriber: &str, status: &str, tenant: Option<&str>) -> String {
        let tenant = tenant.map_or(String::new(), |t| format!("\"tenant\":\"{t}\","));
        format!(
            "{{\"v\":1,{tenant}\"campaign\":\"spring\",\"subscriber\":\"{subscriber}\",\
             \"status\":\"{status}\",\"ts_ms\":1700000000000}}"
        )
    }

    #[test]
    fn the_keys_tenant_is_filled_in_or_must_match() {
        let body = format!(
            "{}\n\n{}\r\n",
            line("s-1", "delivered", None),
            line("s-2", "bounced", Some("acme"))
        );
        let events = parse(body.as_bytes(), "acme").expect("valid batch");
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.tenant == "acme"));
        assert_eq!(events[1].status, DeliveryStatus::Bounced);
    }

    #[test]
    fn every_bad_line_is_reported_and_nothing_is_kept() {
        let body = [
            line("s-1", "delivered", None),
            line("s-2", "delivered", Some("globex")),
            String::new(),
            "not json".to_string(),
            line("s-4", "opened", None),
            line("", "sent", None),
            line("s-6", "sent", None),
        ]
        .join("\n");
        let Err(BatchRefusal::Malformed(report)) = parse(body.as_bytes(), "acme") else {
            panic!("the batch is refused");
        };
        let found: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(
            found,
            vec![
                (2, "other_tenant"),
                (4, "malformed_json"),
                (5, "invalid_status"),
                (6, "invalid_status"),
            ]
        );
        assert_eq!((report.lines, report.valid, report.errors_total), (6, 2, 4));
        assert!(!report.errors[0].message.contains("globex"));
    }

    #[test]
    fn a_batch_over_the_line_limit_is_refused() {
        let one = line("s", "sent", None);
        let body = format!("{one}\n").repeat(MAX_BATCH_LINES + 1);
        assert_eq!(
            parse(body.as_bytes(), "acme"),
            Err(BatchRefusal::TooManyLines {
                max_lines: MAX_BATCH_LINES
            })
        );
        let at_limit = format!("{one}\n").repeat(MAX_BATCH_LINES);
        assert_eq!(
            parse(at_limit.as_bytes(), "acme").map(|e| e.len()),
            Ok(MAX_BATCH_LINES)
        );
    }
}
