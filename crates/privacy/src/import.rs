//! Bulk consent import from CSV or JSON Lines, streamed line by line.
//!
//! Every line is validated before anything is applied: with [`ImportMode::AllOrNothing`] (the
//! default) one bad line means nothing is written and the report lists every bad line; with
//! [`ImportMode::Partial`] the good lines are applied and the bad ones reported. Validated
//! lines are held in memory (tens of bytes each) between the two passes, up to
//! [`MAX_IMPORT_LINES`].
//!
//! - CSV: `subscriber,tracking` per line, an optional header line `subscriber,tracking`,
//!   fields optionally in double quotes (`""` is a quote inside one).
//! - JSON Lines: `{"subscriber":"…","tracking":"…"}` per line, no other fields.
//!
//! `tracking` is `granted`, `denied`, `restricted`, `off`, `anonymous`, `pseudonymous` or
//! `identified`. Blank lines are skipped. A subscriber listed twice ends with its last line.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use mailpulse_event::{ConsentRecord, CONSENT_SCHEMA_VERSION};

use crate::history::HistoryInsert;
use crate::ids::{check_subscriber, check_tenant};
use crate::tracking::Tracking;
use crate::{check_source, now_ms, Privacy, PrivacyError};

/// Most lines one import accepts.
pub const MAX_IMPORT_LINES: usize = 1_000_000;

/// Longest accepted line, bytes.
const MAX_LINE_BYTES: usize = 4096;

/// Bad lines described in a report; the rest are only counted.
const MAX_REPORTED_ERRORS: usize = 1000;

/// History rows per INSERT.
const HISTORY_CHUNK: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Csv,
    Jsonl,
}

impl ImportFormat {
    /// From a name or file extension: `csv`, `jsonl`, `ndjson`, `json`.
    pub fn from_name(name: &str) -> Option<ImportFormat> {
        match name.rsplit('.').next()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(ImportFormat::Jsonl),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Apply nothing if any line is bad.
    #[default]
    AllOrNothing,
    /// Apply the good lines, report the bad ones.
    Partial,
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: u64,
    /// `not_utf8`, `line_too_long`, `malformed_csv`, `wrong_field_count`, `malformed_json`,
    /// `invalid_subscriber` or `invalid_tracking`.
    pub code: String,
    pub message: String,
}

/// What an import found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub tenant: String,
    /// Non-blank, non-header lines read.
    pub lines: u64,
    pub valid: u64,
    /// Lines written to the consent topic (and history).
    pub applied: u64,
    pub errors_total: u64,
    /// The first 1000 bad lines.
    pub errors: Vec<LineError>,
}

/// A validated line.
struct Valid {
    subscriber: String,
    tracking: Tracking,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    subscriber: String,
    tracking: String,
}

impl Privacy {
    /// Imports consent lines for `tenant` from `input`. See the module documentation.
    pub async fn import<R>(
        &self,
        tenant: &str,
        input: R,
        format: ImportFormat,
        mode: ImportMode,
        source: &str,
    ) -> Result<ImportReport, PrivacyError>
    where
        R: AsyncBufRead + Unpin,
    {
        check_tenant(tenant)?;
        check_source(source)?;
        let (valid, mut report) = validate(tenant, input, format).await?;
        if report.errors_total > 0 && mode == ImportMode::AllOrNothing {
            tracing::info!(
                tenant,
                bad_lines = report.errors_total,
                "consent import refused"
            );
            return Err(PrivacyError::MalformedImport(Box::new(report)));
        }
        let ts_ms = now_ms();
        let records: Vec<(String, Vec<u8>)> = valid
            .iter()
            .map(|line| {
                let (state, level) = line.tracking.state_and_level();
                let record = ConsentRecord {
                    v: CONSENT_SCHEMA_VERSION,
                    tenant: tenant.to_string(),
                    subscriber: line.subscriber.clone(),
                    state,
                    level,
                    ts_ms,
                    source: source.to_string(),
                    marketing: None,
                };
                (
                    ConsentRecord::key(tenant, &line.subscriber),
                    record.to_json(),
                )
            })
            .collect();
        // A plain list: an iterator with a closure held across awaits makes the future's
        // `Send` bound unprovable for callers that need it (the HTTP server).
        let messages: Vec<(&str, Option<&[u8]>)> = records
            .iter()
            .map(|(key, payload)| (key.as_str(), Some(payload.as_slice())))
            .collect();
        let deliveries = self.topic.publish_all(messages).await;
        let mut rows = Vec::with_capacity(valid.len());
        let mut first_failure = None;
        for (line, delivery) in valid.iter().zip(&deliveries) {
            match delivery {
                Ok(at) => {
                    let (state, level) = line.tracking.state_and_level();
                    rows.push(HistoryInsert::subscriber(
                        tenant,
                        &line.subscriber,
                        state,
                        level,
                        ts_ms,
                        source,
                        *at,
                    ));
                }
                Err(error) => {
                    first_failure.get_or_insert_with(|| error.to_string());
                }
            }
        }
        report.applied = rows.len() as u64;
        for chunk in rows.chunks(HISTORY_CHUNK) {
            self.record_history(chunk).await?;
        }
        tracing::info!(
            tenant,
            applied = report.applied,
            bad_lines = report.errors_total,
            "consent import applied"
        );
        if let Some(error) = first_failure {
            tracing::warn!(tenant, %error, "consent import interrupted by Kafka");
            return Err(PrivacyError::ImportInterrupted(Box::new(report)));
        }
        Ok(report)
    }
}

/// Reads and checks every line.
async fn validate<R>(
    tenant: &str,
    mut input: R,
    format: ImportFormat,
) -> Result<(Vec<Valid>, ImportReport), PrivacyError>
where
    R: AsyncBufRead + Unpin,
{
    let mut report = ImportReport {
        tenant: tenant.to_string(),
        lines: 0,
        valid: 0,
        applied: 0,
        errors_total: 0,
        errors: Vec::new(),
    };
    let mut valid = Vec::new();
    let mut buffer = Vec::with_capacity(256);
    let mut number = 0u64;
    let mut header_possible = format == ImportFormat::Csv;
    loop {
        buffer.clear();
        let read = input
            .read_until(b'\n', &mut buffer)
            .await
            .map_err(|error| PrivacyError::Input(error.to_string()))?;
        if read == 0 {
            break;
        }
        number += 1;
        let outcome = match std::str::from_utf8(&buffer) {
            Err(_) => Err(("not_utf8", "the line is not UTF-8".to_string())),
            Ok(_) if buffer.len() > MAX_LINE_BYTES => Err((
                "line_too_long",
                format!("longer than {MAX_LINE_BYTES} bytes"),
            )),
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                if text.trim().is_empty() {
                    continue;
                }
                if header_possible {
                    header_possible = false;
                    if is_csv_header(text) {
                        continue;
                    }
                }
                parse_line(text, format)
            }
        };
        report.lines += 1;
        match outcome {
            Ok(line) => {
                if valid.len() >= MAX_IMPORT_LINES {
                    return Err(PrivacyError::ImportTooLarge {
                        max_lines: MAX_IMPORT_LINES,
                    });
                }
                valid.push(line);
            }
            Err((code, message)) => {
                report.errors_total += 1;
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    report.errors.push(LineError {
                        line: number,
                        code: code.to_string(),
                        message,
                    });
                }
            }
        }
        if report.lines > MAX_IMPORT_LINES as u64 {
            return Err(PrivacyError::ImportTooLarge {
                max_lines: MAX_IMPORT_LINES,
            });
        }
    }
    report.valid = valid.len() as u64;
    Ok((valid, report))
}

fn is_csv_header(text: &str) -> bool {
    matches!(split_csv_line(text).as_deref(), Ok([a, b]) if a == "subscriber" && b == "tracking")
}

/// One line, checked: `Err((code, message))` when bad.
fn parse_line(text: &str, format: ImportFormat) -> Result<Valid, (&'static str, String)> {
    let (subscriber, tracking) = match format {
        ImportFormat::Csv => {
            let fields =
                split_csv_line(text).map_err(|reason| ("malformed_csv", reason.to_string()))?;
            match <[String; 2]>::try_from(fields) {
                Ok([subscriber, tracking]) => (subscriber, tracking),
                Err(fields) => {
                    return Err((
                        "wrong_field_count",
                        format!(
                            "expected 2 fields (subscriber,tracking), found {}",
                            fields.len()
                        ),
                    ))
                }
            }
        }
        ImportFormat::Jsonl => {
            let line: JsonLine = serde_json::from_str(text)
                .map_err(|error| ("malformed_json", error.to_string()))?;
            (line.subscriber, line.tracking)
        }
    };
    check_subscriber(&subscriber).map_err(|error| ("invalid_subscriber", error.to_string()))?;
    let tracking = tracking
        .parse::<Tracking>()
        .map_err(|error| ("invalid_tracking", error.to_string()))?;
    Ok(Valid {
        subscriber,
        tracking,
    })
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::with_capacity(2);
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed"),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_split_with_quotes() {
        assert_eq!(
            split_csv_line("a,b").expect("valid"),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(
            split_csv_line(r#""x,""y""",granted"#).expect("valid"),
            vec![r#"x,"y""#.to_string(), "granted".to_string()]
        );
        assert_eq!(split_csv_line("a,").expect("valid").len(), 2);
        assert!(split_csv_line(r#""open,b"#).is_err());
        assert!(split_csv_line(r#""a"x,b"#).is_err());
        assert!(split_csv_line(r#"a"b,c"#).is_err());
    }

    async fn check(format: ImportFormat, text: &str) -> (Vec<Valid>, ImportReport) {
        validate("acme", text.as_bytes(), format)
            .await
            .expect("input readable")
    }

    #[tokio::test]
    async fn every_bad_csv_line_is_reported_with_its_number_and_code() {
        let text =
            "subscriber,tracking\ns1,granted\n\ns2,maybe\ns3\n\"s4,denied\ns5,restricted\r\n";
        let (valid, report) = check(ImportFormat::Csv, text).await;
        assert_eq!(valid.len(), 2);
        assert_eq!((report.lines, report.valid, report.errors_total), (5, 2, 3));
        let found: Vec<(u64, &str)> = report
            .errors
            .iter()
            .map(|e| (e.line, e.code.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (4, "invalid_tracking"),
                (5, "wrong_field_count"),
                (6, "malformed_csv")
            ]
        );
        assert_eq!(valid[1].subscriber, "s5");
        assert_eq!(valid[1].tracking, Tracking::Restricted);
    }

    #[tokio::test]
    async fn jsonl_lines_are_strict() {
        let text = concat!(
            "{\"subscriber\":\"s1\",\"tracking\":\"pseudonymous\"}\n",
            "{\"subscriber\":\"s2\",\"tracking\":\"granted\",\"extra\":1}\n",
            "not json\n",
            "{\"subscriber\":\"\",\"tracking\":\"denied\"}\n",
        );
        let (valid, report) = check(ImportFormat::Jsonl, text).await;
        assert_eq!(valid.len(), 1);
        let codes: Vec<&str> = report.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            vec!["malformed_json", "malformed_json", "invalid_subscriber"]
        );
    }

    #[tokio::test]
    async fn non_utf8_lines_are_reported_not_fatal() {
        let input: &[u8] = b"s1,granted\n\xff\xfe,denied\n";
        let (valid, report) = validate("acme", input, ImportFormat::Csv)
            .await
            .expect("input readable");
        assert_eq!(valid.len(), 1);
        assert_eq!(report.errors[0].code, "not_utf8");
        assert_eq!(report.errors[0].line, 2);
    }

    #[test]
    fn formats_are_known_by_extension() {
        assert_eq!(ImportFormat::from_name("x.CSV"), Some(ImportFormat::Csv));
        assert_eq!(
            ImportFormat::from_name("/tmp/a.ndjson"),
            Some(ImportFormat::Jsonl)
        );
        assert_eq!(ImportFormat::from_name("a.txt"), None);
    }
}
