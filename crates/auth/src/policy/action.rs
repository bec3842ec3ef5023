//! The actions of the Cedar schema and the modules they belong to.
//!
//! A test keeps this list and `policies/pitboss.cedarschema` identical.

pitboss_core::string_enum!(
    /// A part of the back office; the resource of every route's first question.
    Module {
        Shell => "shell",
        Events => "events",
        Players => "players",
        Payments => "payments",
        Audit => "audit",
        Access => "access",
        Segments => "segments",
        Models => "models",
        Ops => "ops",
        Helpdesk => "helpdesk",
    }
);

pitboss_core::string_enum!(
    /// Something a caller asks to do.
    Action {
        ShellOpen => "shell.open",
        EventIngest => "event.ingest",
        EventReadSchemas => "event.read_schemas",
        PlayerSearch => "player.search",
        PlayerCreate => "player.create",
        PlayerRead => "player.read",
        PlayerReadPersonalData => "player.read_personal_data",
        PlayerReadKycDocuments => "player.read_kyc_documents",
        PlayerUpdate => "player.update",
        LedgerRead => "ledger.read",
        PaymentRead => "payment.read",
        PaymentReadDetails => "payment.read_details",
        PaymentChangeStatus => "payment.change_status",
        LedgerAdjust => "ledger.adjust",
        LedgerApproveAdjustment => "ledger.approve_adjustment",
        AuditRead => "audit.read",
        AuditExport => "audit.export",
        AccessRead => "access.read",
        AccessManage => "access.manage",
        SegmentRead => "segment.read",
        SegmentManage => "segment.manage",
        ModelRead => "model.read",
        ModelRefit => "model.refit",
        LockRead => "lock.read",
        LockManage => "lock.manage",
        PlayerCheck => "player.check",
        WithdrawalReview => "withdrawal.review",
        WithdrawalApprove => "withdrawal.approve",
        AlertRead => "alert.read",
        AlertHandle => "alert.handle",
        AlertSubscribe => "alert.subscribe",
        AnomalyRuleManage => "anomaly_rule.manage",
        TicketRead => "ticket.read",
        TicketHandle => "ticket.handle",
        HelpdeskManage => "helpdesk.manage",
    }
);

impl Action {
    /// The module this action is part of.
    pub fn module(self) -> Module {
        match self {
            Action::ShellOpen => Module::Shell,
            Action::EventIngest | Action::EventReadSchemas => Module::Events,
            Action::PlayerSearch
            | Action::PlayerCreate
            | Action::PlayerRead
            | Action::PlayerReadPersonalData
            | Action::PlayerReadKycDocuments
            | Action::PlayerUpdate => Module::Players,
            Action::LedgerRead
            | Action::PaymentRead
            | Action::PaymentReadDetails
            | Action::PaymentChangeStatus
            | Action::LedgerAdjust
            | Action::LedgerApproveAdjustment => Module::Payments,
            Action::AuditRead | Action::AuditExport => Module::Audit,
            Action::AccessRead | Action::AccessManage => Module::Access,
            Action::SegmentRead | Action::SegmentManage => Module::Segments,
            Action::ModelRead | Action::ModelRefit => Module::Models,
            Action::LockRead
            | Action::LockManage
            | Action::PlayerCheck
            | Action::WithdrawalReview
            | Action::WithdrawalApprove
            | Action::AlertRead
            | Action::AlertHandle
            | Action::AlertSubscribe
            | Action::AnomalyRuleManage => Module::Ops,
            Action::TicketRead | Action::TicketHandle | Action::HelpdeskManage => Module::Helpdesk,
        }
    }

    /// Whether the action changes anything (for the route table's safety checks: a mutating
    /// action must never be reachable by GET).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::EventIngest
                | Action::PlayerCreate
                | Action::PlayerUpdate
                | Action::PaymentChangeStatus
                | Action::LedgerAdjust
                | Action::LedgerApproveAdjustment
                | Action::AccessManage
                | Action::SegmentManage
                | Action::ModelRefit
                | Action::LockManage
                | Action::WithdrawalApprove
                | Action::AlertHandle
                | Action::AlertSubscribe
                | Action::AnomalyRuleManage
                | Action::TicketHandle
                | Action::HelpdeskManage
        )
    }
}
