//! What a provider says about one of its templates: its category (what Meta bills it as and
//! whether marketing opt-outs apply), its review status (whether it can be sent at all) and
//! its quality rating (how close it is to being paused). Names on the wire are api.md's
//! ("Additions, 2026-12"); [`TemplateCategory::parse_meta`] and friends read Meta's
//! upper-case spellings (docs/providers.md §2).

use crate::state::wire_enum;

wire_enum!(
    /// A template's category. It decides the price of each message and whether a
    /// `marketing`-scoped opt-out skips it.
    TemplateCategory {
        /// Promotions, offers, announcements. Subject to marketing opt-outs (Meta 131050,
        /// `user_preferences`) and to Meta's per-user marketing cap (131049).
        Marketing => "marketing",
        /// Updates on a transaction the user asked for.
        Utility => "utility",
        /// One-time passcodes.
        Authentication => "authentication",
    }
);

impl TemplateCategory {
    /// Reads Meta's spelling (`MARKETING`, `UTILITY`, `AUTHENTICATION`), in any case. The
    /// pre-2023 names map to what Meta migrated them to: `TRANSACTIONAL` and the old
    /// `*_UPDATE` categories to utility, `OTP` to authentication.
    pub fn parse_meta(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "MARKETING" => Some(Self::Marketing),
            "UTILITY" | "TRANSACTIONAL" | "ACCOUNT_UPDATE" | "PAYMENT_UPDATE" | "SHIPPING_UPDATE" | "ALERT_UPDATE"
            | "APPOINTMENT_UPDATE" | "ISSUE_RESOLUTION" => Some(Self::Utility),
            "AUTHENTICATION" | "OTP" => Some(Self::Authentication),
            _ => None,
        }
    }

    /// Whether a `marketing`-scoped opt-out skips messages of this category.
    pub fn is_marketing(self) -> bool {
        self == Self::Marketing
    }
}

wire_enum!(
    /// Whether a template can be sent, as pregon tracks it. Meta has more states (docs/
    /// providers.md §2.1); each maps onto one of these.
    TemplateStatus {
        /// Sendable.
        Approved => "approved",
        /// In review (or in appeal): not sendable yet.
        Pending => "pending",
        /// Paused by Meta for low quality (3 h, then 6 h): not sendable until it is approved
        /// again; its running campaigns wait as `template_paused`.
        Paused => "paused",
        /// Disabled (after a third pause, or deleted): never sendable again.
        Disabled => "disabled",
        /// Rejected in review: not sendable.
        Rejected => "rejected",
    }
);

impl TemplateStatus {
    /// Reads one of Meta's template statuses (the `status` field of a template object):
    /// `APPROVED`, `PENDING`, `IN_APPEAL`, `PAUSED`, `DISABLED`, `PENDING_DELETION`,
    /// `DELETED`, `REJECTED`, `LIMIT_EXCEEDED`, `ARCHIVED`… in any case. `None` for names
    /// that say nothing about sendability.
    pub fn parse_meta(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "APPROVED" | "REINSTATED" | "UNPAUSED" => Some(Self::Approved),
            "PENDING" | "IN_APPEAL" => Some(Self::Pending),
            "PAUSED" => Some(Self::Paused),
            "DISABLED" | "PENDING_DELETION" | "DELETED" => Some(Self::Disabled),
            "REJECTED" => Some(Self::Rejected),
            _ => None,
        }
    }

    /// Whether messages of a template in this state can be sent.
    pub fn is_sendable(self) -> bool {
        self == Self::Approved
    }
}

wire_enum!(
    /// A template's quality rating, from recipients' feedback (blocks, reports, reads).
    TemplateQuality {
        /// High quality.
        Green => "green",
        /// Medium quality: may soon be paused.
        Yellow => "yellow",
        /// Low quality: paused next (Meta pauses a template that reaches red).
        Red => "red",
        /// Not rated yet.
        Unknown => "unknown",
    }
);

impl TemplateQuality {
    /// Reads Meta's `GREEN`/`YELLOW`/`RED`/`UNKNOWN`, in any case; anything else (`NA`,
    /// blanks, new names) is `Unknown`.
    pub fn parse_meta(name: &str) -> Self {
        match name.trim().to_ascii_uppercase().as_str() {
            "GREEN" | "HIGH" => Self::Green,
            "YELLOW" | "MEDIUM" => Self::Yellow,
            "RED" | "LOW" => Self::Red,
            _ => Self::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_apis() {
        let names: Vec<&str> = TemplateCategory::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["marketing", "utility", "authentication"]);
        let names: Vec<&str> = TemplateStatus::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["approved", "pending", "paused", "disabled", "rejected"]);
        let names: Vec<&str> = TemplateQuality::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["green", "yellow", "red", "unknown"]);
        assert_eq!(serde_json::to_value(TemplateStatus::Paused).unwrap(), "paused");
        assert_eq!("rejected".parse::<TemplateStatus>().unwrap(), TemplateStatus::Rejected);
    }

    #[test]
    fn metas_spellings_read_loosely() {
        assert_eq!(
            TemplateCategory::parse_meta(" marketing "),
            Some(TemplateCategory::Marketing)
        );
        assert_eq!(
            TemplateCategory::parse_meta("TRANSACTIONAL"),
            Some(TemplateCategory::Utility)
        );
        assert_eq!(
            TemplateCategory::parse_meta("OTP"),
            Some(TemplateCategory::Authentication)
        );
        assert_eq!(TemplateCategory::parse_meta("SERVICE"), None);
        assert!(TemplateCategory::Marketing.is_marketing() && !TemplateCategory::Utility.is_marketing());

        for (meta, ours) in [
            ("APPROVED", Some(TemplateStatus::Approved)),
            ("in_appeal", Some(TemplateStatus::Pending)),
            ("PAUSED", Some(TemplateStatus::Paused)),
            ("PENDING_DELETION", Some(TemplateStatus::Disabled)),
            ("DELETED", Some(TemplateStatus::Disabled)),
            ("REJECTED", Some(TemplateStatus::Rejected)),
            ("LIMIT_EXCEEDED", None),
            ("ARCHIVED", None),
        ] {
            assert_eq!(TemplateStatus::parse_meta(meta), ours, "{meta}");
        }
        assert!(TemplateStatus::Approved.is_sendable() && !TemplateStatus::Paused.is_sendable());

        assert_eq!(TemplateQuality::parse_meta("RED"), TemplateQuality::Red);
        assert_eq!(TemplateQuality::parse_meta("green"), TemplateQuality::Green);
        assert_eq!(TemplateQuality::parse_meta("NA"), TemplateQuality::Unknown);
    }
}
