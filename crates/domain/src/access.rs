//! Who may do what: the four roles of a tenant's people and keys, and the names of the
//! changes the audit log records (api.md "Users, roles, API keys, sessions, audit").

use crate::state::wire_enum;

wire_enum!(
    /// A user's or an API key's role. Each includes every role below it.
    Role {
        /// Reads everything but users, API keys and the audit log.
        Viewer => "viewer",
        /// Also runs campaigns, single messages, opt-outs, opt-ins and template previews.
        Operator => "operator",
        /// Also manages senders and their credentials, templates, pricing and the webhook
        /// secret.
        Admin => "admin",
        /// Also manages users, API keys and reads the audit log.
        Owner => "owner",
    }
);

impl Role {
    /// The role's place in the order viewer < operator < admin < owner.
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Operator => 1,
            Role::Admin => 2,
            Role::Owner => 3,
        }
    }

    /// Whether a caller of this role may do what `needed` allows.
    pub fn includes(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }
}

impl PartialOrd for Role {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Role {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

wire_enum!(
    /// Who made a change, as the audit log says it.
    ActorKind {
        /// A person signed in to the console.
        User => "user",
        /// A program with an API key.
        ApiKey => "api_key",
        /// An operator at the command line, working on the database directly
        /// (`pregon tenant create`, `pregon user create`).
        Cli => "cli",
        /// pregon itself, acting on what a provider reported (a messaging tier, an account
        /// suspended) or on its own start.
        System => "system",
    }
);

wire_enum!(
    /// A change the audit log records.
    AuditAction {
        CampaignCreate => "campaign.create",
        CampaignStart => "campaign.start",
        CampaignPause => "campaign.pause",
        CampaignResume => "campaign.resume",
        CampaignCancel => "campaign.cancel",
        CampaignRetry => "campaign.retry",
        CampaignExport => "campaign.export",
        MessageSend => "message.send",
        MessageCancel => "message.cancel",
        SenderCreate => "sender.create",
        SenderUpdate => "sender.update",
        SenderDelete => "sender.delete",
        TemplateCreate => "template.create",
        TemplateDelete => "template.delete",
        TemplateSync => "template.sync",
        PricingUpdate => "pricing.update",
        OptOutCreate => "opt_out.create",
        OptOutDelete => "opt_out.delete",
        OptInCreate => "opt_in.create",
        OptInDelete => "opt_in.delete",
        UserCreate => "user.create",
        UserUpdate => "user.update",
        UserDelete => "user.delete",
        ApiKeyCreate => "api_key.create",
        ApiKeyDelete => "api_key.delete",
        SessionCreate => "session.create",
        SessionDelete => "session.delete",
        WebhookSecretRotate => "webhook_secret.rotate",
        TenantCreate => "tenant.create",
    }
);

impl AuditAction {
    /// The action a person's action on a campaign is recorded as.
    pub fn of_campaign(action: crate::state::CampaignAction) -> Self {
        use crate::state::CampaignAction as A;
        match action {
            A::Start => AuditAction::CampaignStart,
            A::Pause => AuditAction::CampaignPause,
            A::Resume => AuditAction::CampaignResume,
            A::Cancel => AuditAction::CampaignCancel,
            A::Retry => AuditAction::CampaignRetry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_below_it() {
        assert!(Role::Owner.includes(Role::Admin) && Role::Owner.includes(Role::Viewer));
        assert!(Role::Operator.includes(Role::Viewer) && Role::Operator.includes(Role::Operator));
        assert!(!Role::Operator.includes(Role::Admin));
        assert!(!Role::Viewer.includes(Role::Operator));
        assert!(Role::Viewer < Role::Owner);
        assert_eq!(Role::ALL.iter().max(), Some(&Role::Owner));
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn audit_actions_keep_their_wire_names() {
        assert_eq!(AuditAction::OptOutCreate.as_str(), "opt_out.create");
        assert_eq!(
            serde_json::to_value(AuditAction::ApiKeyDelete).unwrap(),
            "api_key.delete"
        );
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), *a);
        }
    }
}
