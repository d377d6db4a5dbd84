//! What an opt-out covers and where it came from (api.md "Additions, 2026-12").
//!
//! A recipient can refuse everything (a STOP reply, a block) or only marketing (WhatsApp's
//! "stop marketing messages", which Meta reports as error 131050 or a `user_preferences`
//! webhook). The second must not stop utility and authentication messages.

use crate::catalog::TemplateCategory;
use crate::state::wire_enum;

wire_enum!(
    /// What an opt-out refuses.
    OptOutScope {
        /// Every message.
        All => "all",
        /// Messages of `marketing` templates only.
        Marketing => "marketing",
    }
);

impl OptOutScope {
    /// Whether an opt-out of this scope skips a message of a template of `category`. A
    /// template of unknown category is treated as marketing: the cautious choice.
    pub fn covers(self, category: Option<TemplateCategory>) -> bool {
        match self {
            Self::All => true,
            Self::Marketing => category.is_none_or(TemplateCategory::is_marketing),
        }
    }
}

wire_enum!(
    /// Where an opt-out came from.
    OptOutSource {
        /// Created through the API (or the console).
        Api => "api",
        /// A STOP-like reply from the recipient.
        Reply => "reply",
        /// The provider said so: Meta 131050 or `user_preferences`, Twilio 63014.
        Provider => "provider",
        /// A list imported by the tenant.
        Import => "import",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marketing_opt_out_spares_utility_and_authentication() {
        use TemplateCategory::*;
        assert!(OptOutScope::All.covers(Some(Utility)));
        assert!(OptOutScope::Marketing.covers(Some(Marketing)));
        assert!(!OptOutScope::Marketing.covers(Some(Utility)));
        assert!(!OptOutScope::Marketing.covers(Some(Authentication)));
        assert!(OptOutScope::Marketing.covers(None), "unknown category: cautious");
        assert_eq!(OptOutSource::Provider.as_str(), "provider");
        assert_eq!("marketing".parse::<OptOutScope>().unwrap(), OptOutScope::Marketing);
    }
}
