//! The privacy commands: `consent set|show|import|policy|policies`, `export`, `forget`,
//! `tenant delete` (from `cmd_tenant`) and `retention run|set`. Each is one call of
//! `mailpulse_privacy::Privacy` — the same code path as the HTTP API — and each is written to
//! `audit_log` with the actor `cli`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use mailpulse_api::audit::{self, AuditEntry, Outcome};
use mailpulse_config::Config;
use mailpulse_privacy::tracking::{parse_basis, parse_level};
use mailpulse_privacy::{ImportFormat, ImportMode, Privacy, PrivacyError, Tracking};
use serde::Serialize;
use tokio::io::BufReader;

/// Actor recorded in the audit log for command-line calls.
const ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Set a subscriber's consent.
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        subscriber: String,
        /// granted, denied, restricted, or a level: off, anonymous, pseudonymous, identified.
        #[arg(long)]
        tracking: String,
    },
    /// Show a subscriber's current consent and its history.
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        subscriber: String,
    },
    /// Import `subscriber,tracking` lines (CSV or JSON Lines; `-` reads stdin). Nothing is
    /// applied if any line is bad, unless `--partial`.
    Import {
        #[arg(long)]
        tenant: String,
        /// The file; `-` for standard input.
        file: PathBuf,
        /// `csv` or `jsonl`; default from the file extension.
        #[arg(long)]
        format: Option<String>,
        /// Apply the good lines even if some are bad.
        #[arg(long)]
        partial: bool,
    },
    /// Set the tenant's tracking policy, or a campaign's level limit with `--campaign`.
    /// Options left out keep their current value; `default` clears one.
    Policy {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        campaign: Option<String>,
        /// Most detailed level allowed: off, anonymous, pseudonymous, identified, default.
        #[arg(long)]
        level: Option<String>,
        /// opt_in, legitimate_interest or default (tenant only).
        #[arg(long)]
        basis: Option<String>,
    },
    /// Show the tenant's policies and their history.
    Policies {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Args)]
pub struct SubscriberArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub subscriber: String,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Remove raw events past retention now, and print what was removed.
    Run,
    /// Set a tenant's raw-event retention in days (`default`: `privacy.retention_days`).
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        days: String,
    },
}

pub fn consent(config: &Config, command: ConsentCommand) -> Result<()> {
    with_privacy(config, |privacy| async move {
        match command {
            ConsentCommand::Set {
                tenant,
                subscriber,
                tracking,
            } => {
                let result = match tracking.parse::<Tracking>() {
                    Ok(tracking) => {
                        privacy
                            .set_consent(&tenant, &subscriber, tracking, ACTOR)
                            .await
                    }
                    Err(invalid) => Err(invalid),
                };
                audited(
                    &privacy,
                    &tenant,
                    "privacy.consent_set",
                    &subscriber,
                    result,
                )
                .await
                .and_then(|receipt| print_json(&receipt))
            }
            ConsentCommand::Show { tenant, subscriber } => {
                let result = privacy.consent(&tenant, &subscriber).await;
                audited(
                    &privacy,
                    &tenant,
                    "privacy.consent_show",
                    &subscriber,
                    result,
                )
                .await
                .and_then(|view| print_json(&view))
            }
            ConsentCommand::Import {
                tenant,
                file,
                format,
                partial,
            } => import(&privacy, &tenant, &file, format.as_deref(), partial).await,
            ConsentCommand::Policy {
                tenant,
                campaign,
                level,
                basis,
            } => policy(&privacy, &tenant, campaign.as_deref(), level, basis).await,
            ConsentCommand::Policies { tenant } => {
                let result = privacy.policies(&tenant).await;
                audited(&privacy, &tenant, "privacy.policies_show", "", result)
                    .await
                    .and_then(|view| print_json(&view))
            }
        }
    })
}

pub fn export(config: &Config, args: SubscriberArgs) -> Result<()> {
    with_privacy(config, |privacy| async move {
        let mut stdout = tokio::io::stdout();
        let result = privacy
            .export(&args.tenant, &args.subscriber, &mut stdout)
            .await;
        audited(
            &privacy,
            &args.tenant,
            "privacy.export",
            &args.subscriber,
            result,
        )
        .await
        .map(|_| ())
    })
}

pub fn forget(config: &Config, args: SubscriberArgs) -> Result<()> {
    with_privacy(config, |privacy| async move {
        let result = privacy.forget(&args.tenant, &args.subscriber).await;
        audited(
            &privacy,
            &args.tenant,
            "privacy.forget",
            &args.subscriber,
            result,
        )
        .await
        .and_then(|receipt| print_json(&receipt))
    })
}

/// `mailpulse tenant delete T` (run on `cmd_tenant`'s runtime).
pub async fn delete_tenant(config: &Config, tenant: &str) -> Result<()> {
    let privacy = Privacy::new(config).context("connecting to Kafka and ClickHouse")?;
    let result = privacy.delete_tenant(tenant, ACTOR).await;
    // Written after the deletion (which removed the tenant's earlier entries), so the log
    // keeps the fact that the tenant was removed, and by whom.
    audited(&privacy, tenant, "privacy.tenant_delete", "", result)
        .await
        .and_then(|receipt| print_json(&receipt))
}

pub fn retention(config: &Config, command: RetentionCommand) -> Result<()> {
    with_privacy(config, |privacy| async move {
        match command {
            RetentionCommand::Run => {
                let report = privacy.run_retention().await?;
                print_json(&report)
            }
            RetentionCommand::Set { tenant, days } => {
                let days = match days.as_str() {
                    "default" => None,
                    number => Some(number.parse::<u32>().with_context(|| {
                        format!("--days `{number}` is neither a number nor `default`")
                    })?),
                };
                let result = privacy.set_retention(&tenant, days).await;
                audited(&privacy, &tenant, "privacy.retention_set", "", result).await?;
                println!(
                    "retention of {tenant}: {}",
                    days.map_or("default".to_string(), |d| format!("{d} days"))
                );
                Ok(())
            }
        }
    })
}

async fn import(
    privacy: &Privacy,
    tenant: &str,
    file: &PathBuf,
    format: Option<&str>,
    partial: bool,
) -> Result<()> {
    let name = format
        .map(str::to_string)
        .unwrap_or_else(|| file.display().to_string());
    let Some(format) = ImportFormat::from_name(&name) else {
        bail!("cannot tell the format of `{name}`: pass --format csv or --format jsonl");
    };
    let mode = if partial {
        ImportMode::Partial
    } else {
        ImportMode::AllOrNothing
    };
    let result = if file.as_os_str() == "-" {
        let input = BufReader::new(tokio::io::stdin());
        privacy.import(tenant, input, format, mode, "import").await
    } else {
        let opened = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        privacy
            .import(tenant, BufReader::new(opened), format, mode, "import")
            .await
    };
    match &result {
        Err(PrivacyError::MalformedImport(report))
        | Err(PrivacyError::ImportInterrupted(report)) => {
            print_json(report)?;
        }
        Ok(report) => print_json(report)?,
        Err(_) => {}
    }
    audited(privacy, tenant, "privacy.consent_import", "", result)
        .await
        .map(|_| ())
}

async fn policy(
    privacy: &Privacy,
    tenant: &str,
    campaign: Option<&str>,
    level: Option<String>,
    basis: Option<String>,
) -> Result<()> {
    let current = privacy.policies(tenant).await?;
    let current_level = match campaign {
        Some(campaign) => current.campaigns.get(campaign).cloned(),
        None => current.level.clone(),
    };
    let level = match level.or(current_level).as_deref() {
        None | Some("default") => None,
        Some(name) => Some(parse_level(name)?),
    };
    let basis = match campaign {
        Some(_) => {
            if basis.is_some() {
                bail!("--basis is set per tenant; leave out --campaign");
            }
            None
        }
        None => match basis.or(current.basis).as_deref() {
            None | Some("default") => None,
            Some(name) => Some(parse_basis(name)?),
        },
    };
    let result = privacy
        .set_policy(tenant, campaign, basis, level, ACTOR)
        .await;
    audited(privacy, tenant, "privacy.policy_set", "", result)
        .await
        .and_then(|receipt| print_json(&receipt))
}

/// Records the call in `audit_log` (subject: the subscriber it named, if any), then passes its
/// result on. A call that cannot be recorded fails.
async fn audited<T>(
    privacy: &Privacy,
    tenant: &str,
    action: &str,
    subscriber: &str,
    result: Result<T, PrivacyError>,
) -> Result<T> {
    let outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err(PrivacyError::Invalid { .. })
        | Err(PrivacyError::MalformedImport(_))
        | Err(PrivacyError::ImportTooLarge { .. }) => Outcome::Invalid,
        Err(_) => Outcome::Failed,
    };
    let mut entry = AuditEntry::now(tenant, ACTOR, action, outcome);
    if !subscriber.is_empty() {
        entry = entry.with_subject(subscriber);
    }
    let recorded = audit::append(privacy.store(), &[entry]).await;
    let value = result.with_context(|| format!("{action} failed"))?;
    recorded.context("writing the audit log")?;
    Ok(value)
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("encoding the result")?
    );
    Ok(())
}

/// Runs `call` with a [`Privacy`] for `config` on a small runtime.
fn with_privacy<F, Fut>(config: &Config, call: F) -> Result<()>
where
    F: FnOnce(Privacy) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let runtime = crate::cmd_aggregate::small_runtime()?;
    runtime.block_on(async {
        let privacy = Privacy::new(config).context("connecting to Kafka and ClickHouse")?;
        call(privacy).await
    })
}
