//! `mailpulse tenant`: API keys of the statistics API. Keys are shown once, at creation; the
//! database keeps only their BLAKE3 hashes. Every change is written to `audit_log`.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mailpulse_api::audit::{self, AuditEntry, Outcome};
use mailpulse_api::{tenant, TenantId};
use mailpulse_config::Config;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create an API key for a tenant (creating the tenant) and print it once.
    Create {
        /// Tenant id, as in tracking tokens.
        tenant: String,
    },
    /// List every tenant's keys (ids and state, never the keys).
    List,
    /// Revoke one key; it stops working within 10 seconds.
    Revoke {
        tenant: String,
        /// The key's id, as `list` shows it.
        key_id: String,
    },
    /// Remove a tenant: every row in every table, its keys, its consent records; prints a
    /// receipt (see docs/privacy.md).
    Delete { tenant: String },
}

/// Actor recorded in the audit log for command-line changes.
const ACTOR: &str = "cli";

pub fn run(config: &Config, command: TenantCommand) -> Result<()> {
    let runtime = crate::cmd_aggregate::small_runtime()?;
    let client = mailpulse_store::connect(&config.clickhouse);
    runtime.block_on(async {
        match command {
            TenantCommand::Delete { tenant } => {
                crate::cmd_privacy::delete_tenant(config, &tenant).await
            }
            TenantCommand::Create { tenant } => {
                let tenant = TenantId::parse(&tenant)?;
                let created = tenant::create_key(&client, &tenant)
                    .await
                    .context("creating the key (has `mailpulse migrate` run?)")?;
                record(&client, &tenant, "tenant.key_created", Outcome::Ok).await?;
                println!("tenant:  {}", created.tenant);
                println!("key id:  {}", created.key_id);
                println!("api key: {}", created.key);
                eprintln!("Store the key now: it is not shown again and cannot be recovered.");
                Ok(())
            }
            TenantCommand::List => {
                let keys = tenant::list_keys(&client)
                    .await
                    .context("listing keys (has `mailpulse migrate` run?)")?;
                println!("{:<24} {:<16} {:<22} state", "tenant", "key id", "created");
                for key in keys {
                    println!(
                        "{:<24} {:<16} {:<22} {}",
                        key.tenant,
                        key.key_id,
                        mailpulse_api::time::format_timestamp(key.created_at),
                        if key.revoked { "revoked" } else { "active" }
                    );
                }
                Ok(())
            }
            TenantCommand::Revoke { tenant, key_id } => {
                let tenant = TenantId::parse(&tenant)?;
                let revoked = tenant::revoke_key(&client, &tenant, &key_id)
                    .await
                    .context("revoking the key")?;
                if !revoked {
                    record(&client, &tenant, "tenant.key_revoked", Outcome::NotFound).await?;
                    bail!("tenant `{tenant}` has no key `{key_id}`");
                }
                record(&client, &tenant, "tenant.key_revoked", Outcome::Ok).await?;
                println!("revoked {key_id} of {tenant}");
                Ok(())
            }
        }
    })
}

async fn record(
    client: &mailpulse_store::Client,
    tenant: &TenantId,
    action: &str,
    outcome: Outcome,
) -> Result<()> {
    let entry = AuditEntry::now(tenant.as_str(), ACTOR, action, outcome);
    audit::append(client, &[entry])
        .await
        .context("writing the audit log")
}
