use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use pitboss_auth::policy::Policies;
use pitboss_auth::session::{SessionPolicy, Sessions};
use pitboss_bus::Transport;
use pitboss_ingest::Ingestor;
use pitboss_store::Db;

/// A part of Pitboss that a process can run on its own (`pitboss serve --target ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `POST /api/v1/events` and the outbox relay.
    Ingest,
    /// The player profile API.
    Players,
    /// The ledger API.
    Payments,
    /// Segments and their members.
    Segments,
    /// The operations panel: account locks and the platform's checks.
    Ops,
    Helpdesk,
}

impl Target {
    pub const ALL: [Target; 6] =
        [Target::Ingest, Target::Players, Target::Payments, Target::Segments, Target::Ops, Target::Helpdesk];

    pub fn name(&self) -> &'static str {
        match self {
            Target::Ingest => "ingest",
            Target::Players => "players",
            Target::Payments => "payments",
            Target::Segments => "segments",
            Target::Ops => "ops",
            Target::Helpdesk => "helpdesk",
        }
    }

    /// Parses `all` or a comma list such as `ingest,players`.
    pub fn parse_list(s: &str) -> Result<BTreeSet<Target>, String> {
        let mut out = BTreeSet::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(Target::ALL);
            } else {
                out.insert(part.parse()?);
            }
        }
        if out.is_empty() {
            return Err("name at least one target".into());
        }
        Ok(out)
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!("unknown target '{s}'; targets are: all, {}", names.join(", "))
        })
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ingestor: Ingestor,
    pub transport: Arc<dyn Transport>,
    pub targets: Arc<BTreeSet<Target>>,
    pub security: Security,
    /// Reference exchange rates, for thresholds written in another currency than a player's.
    pub rates: Arc<pitboss_rules::Rates>,
    /// The players kept out of every campaign (the global holdout).
    pub holdout: Arc<pitboss_segments::split::Holdout>,
    /// When withdrawals wait for officers (the queue's rules).
    pub withdrawals: Arc<pitboss_ops::withdrawals::ReviewPolicy>,
    /// The help desk's calendar, SLA policy and escalation.
    pub helpdesk: Arc<pitboss_helpdesk::DeskConfig>,
    /// Wakes the SLA timers' scheduler after a change that may bring a ticket's next mark
    /// nearer than the one it sleeps for.
    pub sla_wake: Arc<tokio::sync::Notify>,
    /// The secrets the help desk's webhooks are signed with; a webhook without one is refused.
    pub webhooks: Arc<WebhookSecrets>,
    /// The live chats' connections.
    pub chat: Arc<crate::chat_hub::ChatHub>,
}

/// Shared secrets of the systems that call Pitboss's webhooks.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// The telephony system's call events.
    pub telephony: Option<String>,
    /// The mail gateway's inbound messages.
    pub mail: Option<String>,
    /// The casino website's signature of a signed-in player's id, for the chat widget.
    pub chat_widget: Option<String>,
}

/// Sign-in, sessions and authorisation.
#[derive(Clone)]
pub struct Security {
    pub policies: Arc<Policies>,
    pub sessions: Sessions,
    /// Mark cookies `Secure` (sent over HTTPS only). Off only for a server on a loopback address.
    pub secure_cookies: bool,
    /// Operators holding any of these roles must use two-factor authentication.
    pub two_factor_roles: Arc<Vec<String>>,
    /// Single sign-on, when configured.
    pub oidc: Option<Arc<pitboss_auth::oidc::OidcClient>>,
    /// The key the audit checkpoints must be signed with, to verify the chain from the viewer.
    pub audit_key: Option<pitboss_auth::audit::VerifyingKey>,
}

/// Roles that must use two-factor authentication unless configured otherwise: those that move
/// money, see everything, or grant rights.
pub const DEFAULT_TWO_FACTOR_ROLES: &[&str] = &["admin", "payments_officer", "compliance_officer"];

impl Default for Security {
    fn default() -> Self {
        Security {
            policies: Arc::new(Policies::defaults()),
            sessions: Sessions::in_process(SessionPolicy::default()),
            secure_cookies: true,
            two_factor_roles: Arc::new(DEFAULT_TWO_FACTOR_ROLES.iter().map(|r| r.to_string()).collect()),
            oidc: None,
            audit_key: None,
        }
    }
}

impl AppState {
    pub fn new(db: Db, ingestor: Ingestor, transport: Arc<dyn Transport>, targets: BTreeSet<Target>) -> AppState {
        AppState {
            db,
            ingestor,
            transport,
            targets: Arc::new(targets),
            security: Security::default(),
            rates: Arc::new(pitboss_rules::Rates::new()),
            holdout: Arc::new(pitboss_segments::split::Holdout { salt: "pitboss-holdout-1".into(), basis_points: 500 }),
            withdrawals: Arc::default(),
            helpdesk: Arc::new(pitboss_helpdesk::DeskConfig::shipped()),
            sla_wake: Arc::new(tokio::sync::Notify::new()),
            webhooks: Arc::new(WebhookSecrets::default()),
            chat: Arc::new(crate::chat_hub::ChatHub::default()),
        }
    }

    pub fn with_security(mut self, security: Security) -> AppState {
        self.security = security;
        self
    }

    pub fn runs(&self, t: Target) -> bool {
        self.targets.contains(&t)
    }
}
