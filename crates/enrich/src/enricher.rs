//! The per-event entry point.

use mailpulse_event::Event;

use crate::activity::ClickContext;
use crate::agent::{AgentInfo, DeviceCategory};
use crate::cache::AgentCache;
use crate::client::{ClientByAgent, EmailClient};
use crate::machine::{Evidence, MachineReason, MachineRules, WeakSignals};
use crate::signatures::{self, Mark};

/// Distinct User-Agents remembered by [`Enricher::new`].
pub const DEFAULT_AGENT_CACHE: usize = 4096;

/// What enrichment adds to an event. Strings are static or borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrichment<'a> {
    /// Browser name as woothee gives it (`Chrome`, `Safari`, …) or `unknown`.
    pub browser: &'static str,
    pub browser_version: Option<&'a str>,
    /// OS name as woothee gives it (`Windows 10`, `iPhone`, `Mac OSX`, …) or `unknown`.
    pub os: &'static str,
    pub device: DeviceCategory,
    pub email_client: EmailClient,
    /// Set when the event was judged automated; the event is still counted, with this reason.
    pub machine: Option<MachineReason>,
    /// The weak click signals that fired (also when too few to flag the click).
    pub weak_signals: WeakSignals,
}

impl Enrichment<'_> {
    pub fn is_machine(&self) -> bool {
        self.machine.is_some()
    }
}

/// The parts of a verdict that depend on the User-Agent only, cached per agent.
#[derive(Debug, Clone, Copy)]
struct AgentVerdict {
    info: AgentInfo,
    client: ClientByAgent,
    machine: Option<MachineReason>,
}

/// Enriches events; shareable across threads (the agent cache takes a short lock).
#[derive(Debug)]
pub struct Enricher {
    rules: MachineRules,
    cache: AgentCache<AgentVerdict>,
}

impl Default for Enricher {
    fn default() -> Self {
        Self::new()
    }
}

impl Enricher {
    pub fn new() -> Enricher {
        Self::with_rules(MachineRules::default(), DEFAULT_AGENT_CACHE)
    }

    /// Custom thresholds, and a User-Agent cache of `agent_cache` entries (0 disables it).
    pub fn with_rules(rules: MachineRules, agent_cache: usize) -> Enricher {
        Enricher {
            rules,
            cache: AgentCache::new(agent_cache),
        }
    }

    /// Enriches one event. `context` comes from
    /// [`ActivityTracker::observe`](crate::ActivityTracker::observe); without it only the rules
    /// that need no history apply.
    pub fn enrich<'a>(&self, event: &'a Event, context: Option<&ClickContext>) -> Enrichment<'a> {
        let ua = event.ua.as_str();
        let verdict = self.cache.get_or_insert_with(ua, || judge_agent(ua));
        let email_client = verdict.client.resolve(event.network.class);
        let secs_since_issue = context.map_or_else(
            || (event.ts_ms / 1000).saturating_sub(event.issued_at),
            |context| context.secs_since_issue,
        );
        let (machine, weak_signals) = self.rules.judge(&Evidence {
            kind: event.kind,
            head: event.head,
            network: event.network.class,
            client: email_client,
            agent_verdict: verdict.machine,
            secs_since_issue,
            context,
        });
        Enrichment {
            browser: verdict.info.browser,
            browser_version: verdict.info.version(ua),
            os: verdict.info.os,
            device: verdict.info.device,
            email_client,
            machine,
            weak_signals,
        }
    }
}

fn judge_agent(ua: &str) -> AgentVerdict {
    let marks = signatures::scan(ua);
    let info = AgentInfo::parse(ua);
    let client = ClientByAgent::detect(ua, marks, &info);
    let machine = if marks.has(Mark::SecurityScanner) {
        Some(MachineReason::SecurityScanner)
    } else if marks.has(Mark::Automation)
        || info.device == DeviceCategory::Crawler
        || ua.trim().is_empty()
        // No browser sends a bare `Mozilla/5.0`; on an open it is Apple's proxy (checked first).
        || client == ClientByAgent::BareMozilla
    {
        Some(MachineReason::HeadlessBrowser)
    } else {
        None
    };
    AgentVerdict {
        info,
        client,
        machine,
    }
}
