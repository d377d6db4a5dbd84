//! What Meta charges a message as, from the `pricing` object of its status webhooks
//! (docs/providers.md §1.5). Since 2025-07-01 every message is priced on its own
//! (`pricing_model: PMP`): by category and the recipient's country, unless its `type` says
//! it was free.

use crate::state::wire_enum;

wire_enum!(
    /// The category a message was billed as. It can differ from the template's own category:
    /// Meta may reclassify a template, and messages sent through the Marketing Messages API
    /// are billed as `marketing_lite`.
    PricingCategory {
        Marketing => "marketing",
        /// A marketing template sent through the Marketing Messages API (MM Lite).
        MarketingLite => "marketing_lite",
        Utility => "utility",
        Authentication => "authentication",
        /// An authentication template to a country with international authentication rates.
        AuthenticationInternational => "authentication_international",
        /// A free-form reply inside the customer-service window.
        Service => "service",
        /// A message in a referral (ads) conversion window.
        ReferralConversion => "referral_conversion",
    }
);

impl PricingCategory {
    /// Reads the lower-case name Meta writes, in any case.
    pub fn parse_meta(name: &str) -> Option<Self> {
        name.trim().to_ascii_lowercase().parse().ok()
    }
}

wire_enum!(
    /// Whether a message was charged.
    PricingType {
        /// Charged at the rate of its category.
        Regular => "regular",
        /// Free: sent inside the 24 h customer-service window.
        FreeCustomerService => "free_customer_service",
        /// Free: inside a free entry-point window (an ad click or a Facebook Page button),
        /// 72 h.
        FreeEntryPoint => "free_entry_point",
    }
);

impl PricingType {
    /// Reads the lower-case name Meta writes, in any case.
    pub fn parse_meta(name: &str) -> Option<Self> {
        name.trim().to_ascii_lowercase().parse().ok()
    }

    /// Whether messages of this type are charged.
    pub fn is_charged(self) -> bool {
        self == Self::Regular
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_names_read() {
        assert_eq!(
            PricingCategory::parse_meta("marketing_lite"),
            Some(PricingCategory::MarketingLite)
        );
        assert_eq!(
            PricingCategory::parse_meta("AUTHENTICATION_INTERNATIONAL"),
            Some(PricingCategory::AuthenticationInternational)
        );
        assert_eq!(PricingCategory::parse_meta("premium"), None);
        assert_eq!(
            PricingType::parse_meta("free_entry_point"),
            Some(PricingType::FreeEntryPoint)
        );
        assert!(PricingType::Regular.is_charged());
        assert!(!PricingType::FreeCustomerService.is_charged());
        assert_eq!(PricingType::parse_meta(""), None);
    }
}
