//! What Meta charges a message as, from the `pricing` object of its status webhooks
//! (docs/providers.md §1.5). Since 2025-07-01 every message is priced on its own
//! (`pricing_model: PMP`): by category and the recipient's country, unless its `type` says
//! it was free.
//!
//! Beside them, a tenant's own [`RateCard`]: what it pays per message by country and
//! category, in exact [`Micros`] of one currency, so that estimates and bills are integer
//! sums (never `f64` sums).

use std::collections::BTreeMap;
use std::fmt;

use crate::catalog::TemplateCategory;
use crate::phone::Region;
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

    /// What a message of a template of this category is billed as, before Meta says
    /// otherwise (an estimate's assumption).
    pub fn of_template(category: TemplateCategory) -> Self {
        match category {
            TemplateCategory::Marketing => Self::Marketing,
            TemplateCategory::Utility => Self::Utility,
            TemplateCategory::Authentication => Self::Authentication,
        }
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

/// An amount of money in millionths of a currency unit: exact, summed as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(pub i64);

/// Millionths per unit.
const MICROS_PER_UNIT: i64 = 1_000_000;

impl Micros {
    /// The largest price a rate card takes for one message (1,000 units): anything above is
    /// a typo, and sums of millions of messages stay far inside `i64`.
    pub const MAX_PRICE: Micros = Micros(1_000 * MICROS_PER_UNIT);

    /// Reads a price as JSON gives it: finite, non-negative, at most [`Self::MAX_PRICE`],
    /// with at most six decimals (a millionth).
    pub fn from_price(price: f64) -> Result<Self, RateCardError> {
        if !price.is_finite() || price < 0.0 {
            return Err(RateCardError::Price(price.to_string()));
        }
        if price > Self::MAX_PRICE.as_units() {
            return Err(RateCardError::Price(price.to_string()));
        }
        let micros = (price * MICROS_PER_UNIT as f64).round();
        // A seventh decimal does not survive the rounding: refused rather than lost.
        if (micros / MICROS_PER_UNIT as f64 - price).abs() > 1e-9 {
            return Err(RateCardError::Precision(price.to_string()));
        }
        Ok(Micros(micros as i64))
    }

    /// The amount in currency units, for display in JSON (the sums behind it are exact).
    pub fn as_units(self) -> f64 {
        self.0 as f64 / MICROS_PER_UNIT as f64
    }

    /// Adds, saturating (never reached by any real sum).
    pub fn saturating_add(self, other: Micros) -> Micros {
        Micros(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Micros {
    /// Exact decimal form, trailing zeros trimmed: `0.0436`, `12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (units, frac) = (abs / MICROS_PER_UNIT as u64, abs % MICROS_PER_UNIT as u64);
        if frac == 0 {
            write!(f, "{sign}{units}")
        } else {
            let frac = format!("{frac:06}");
            write!(f, "{sign}{units}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// ISO 4217 active currency codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD \
BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP \
GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD \
KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR \
PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB \
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW \
ZWG ZWL";

/// An ISO 4217 currency code (`USD`), upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(String);

impl Currency {
    /// Reads a three-letter ISO 4217 code, in any case.
    pub fn parse(code: &str) -> Result<Self, RateCardError> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() == 3 && ISO_4217.split(' ').any(|c| c == upper) {
            Ok(Currency(upper))
        } else {
            Err(RateCardError::Currency(code.chars().take(16).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The countries a rate applies to: one (ISO 3166 alpha-2), or every other (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateCountry {
    /// Upper-case alpha-2 code of a region libphonenumber knows.
    Code(String),
    /// `*`: the default for countries without a rate of their own.
    Any,
}

impl RateCountry {
    /// Reads `*` or a two-letter region code, in any case.
    pub fn parse(text: &str) -> Result<Self, RateCardError> {
        let t = text.trim();
        if t == "*" {
            return Ok(RateCountry::Any);
        }
        Region::parse(t)
            .map(|r| RateCountry::Code(r.code()))
            .map_err(|_| RateCardError::Country(text.chars().take(16).collect()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            RateCountry::Code(c) => c,
            RateCountry::Any => "*",
        }
    }
}

/// One line of a rate card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub country: RateCountry,
    pub category: PricingCategory,
    pub price: Micros,
}

/// Why a rate card was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateCardError {
    #[error("currency {0:?} is not an ISO 4217 code")]
    Currency(String),
    #[error("country {0:?} is neither an ISO 3166 alpha-2 code nor \"*\"")]
    Country(String),
    #[error("category {0:?} is not one of marketing, marketing_lite, utility, authentication, authentication_international, service, referral_conversion")]
    Category(String),
    #[error("price {0} must be a finite number from 0 to 1000")]
    Price(String),
    #[error("price {0} has more than six decimals")]
    Precision(String),
    #[error("country {country} and category {category} have more than one rate")]
    Duplicate { country: String, category: PricingCategory },
    #[error("a rate card has at most {max} rates")]
    TooMany { max: usize },
}

/// A tenant's prices per message, in one currency, by (country, category); `*` stands for
/// every country without a rate of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCard {
    currency: Currency,
    /// By (country, category name): the category itself beside its price.
    rates: BTreeMap<(RateCountry, &'static str), (PricingCategory, Micros)>,
}

impl RateCard {
    /// At most this many rates: every country and category Meta prices, with room to spare.
    pub const MAX_RATES: usize = 2_000;

    /// A card from its lines: no (country, category) twice, at most [`Self::MAX_RATES`].
    pub fn new(currency: Currency, rates: Vec<Rate>) -> Result<Self, RateCardError> {
        if rates.len() > Self::MAX_RATES {
            return Err(RateCardError::TooMany { max: Self::MAX_RATES });
        }
        let mut map = BTreeMap::new();
        for r in rates {
            if map
                .insert((r.country.clone(), r.category.as_str()), (r.category, r.price))
                .is_some()
            {
                return Err(RateCardError::Duplicate {
                    country: r.country.as_str().to_string(),
                    category: r.category,
                });
            }
        }
        Ok(RateCard { currency, rates: map })
    }

    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// The lines, by country (`*` last) then category.
    pub fn rates(&self) -> impl Iterator<Item = Rate> + '_ {
        self.rates.iter().map(|((country, _), (category, price))| Rate {
            country: country.clone(),
            category: *category,
            price: *price,
        })
    }

    /// The price of one message of `category` to a recipient of `country` (an alpha-2
    /// code, from the phone number's region or a BSUID's prefix,
    /// `BusinessUserId::country_code`): the country's own rate, else the `*` rate; `None`
    /// when neither exists, or the country is not known (unknown, never zero).
    pub fn price_for_country_code(&self, country: Option<&str>, category: PricingCategory) -> Option<Micros> {
        country
            .map(|c| RateCountry::Code(c.trim().to_ascii_uppercase()))
            .and_then(|c| self.rates.get(&(c, category.as_str())))
            .or_else(|| self.rates.get(&(RateCountry::Any, category.as_str())))
            .map(|(_, price)| *price)
    }

    /// [`Self::price_for_country_code`] for a region.
    pub fn price(&self, region: Option<Region>, category: PricingCategory) -> Option<Micros> {
        self.price_for_country_code(region.map(|r| r.code()).as_deref(), category)
    }
}

/// A sum of prices, and how many items had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostSum {
    pub amount: Micros,
    /// Items without a rate: left out of `amount`, said rather than counted as free.
    pub unpriced: u64,
}

impl CostSum {
    pub fn add(&mut self, price: Option<Micros>) {
        match price {
            Some(p) => self.amount = self.amount.saturating_add(p),
            None => self.unpriced += 1,
        }
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

    fn card(rates: &[(&str, PricingCategory, f64)]) -> Result<RateCard, RateCardError> {
        let rates = rates
            .iter()
            .map(|(c, cat, p)| {
                Ok(Rate {
                    country: RateCountry::parse(c)?,
                    category: *cat,
                    price: Micros::from_price(*p)?,
                })
            })
            .collect::<Result<Vec<_>, RateCardError>>()?;
        RateCard::new(Currency::parse("usd")?, rates)
    }

    #[test]
    fn prices_are_exact_micros() {
        assert_eq!(Micros::from_price(0.0436), Ok(Micros(43_600)));
        assert_eq!(Micros::from_price(0.008), Ok(Micros(8_000)));
        assert_eq!(Micros::from_price(0.0), Ok(Micros(0)));
        assert_eq!(Micros::from_price(1000.0), Ok(Micros(1_000_000_000)));
        assert_eq!(Micros::from_price(0.000001), Ok(Micros(1)));
        assert!(matches!(
            Micros::from_price(0.0000001),
            Err(RateCardError::Precision(_))
        ));
        assert!(matches!(Micros::from_price(-0.01), Err(RateCardError::Price(_))));
        assert!(matches!(Micros::from_price(f64::NAN), Err(RateCardError::Price(_))));
        assert!(matches!(
            Micros::from_price(f64::INFINITY),
            Err(RateCardError::Price(_))
        ));
        assert!(matches!(Micros::from_price(1000.5), Err(RateCardError::Price(_))));
        // Ten thousand 0.0436 are 436 exactly, which f64 sums miss.
        let mut sum = CostSum::default();
        for _ in 0..10_000 {
            sum.add(Some(Micros(43_600)));
        }
        assert_eq!(sum.amount, Micros(436_000_000));
        assert_eq!(sum.amount.to_string(), "436");
        assert_eq!(Micros(43_600).to_string(), "0.0436");
        assert_eq!(Micros(1_500_001).to_string(), "1.500001");
    }

    #[test]
    fn currency_and_country_are_iso() {
        assert_eq!(Currency::parse(" eur ").unwrap().as_str(), "EUR");
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("US").is_err());
        assert!(Currency::parse("").is_err());
        assert_eq!(RateCountry::parse("ve").unwrap(), RateCountry::Code("VE".into()));
        assert_eq!(RateCountry::parse("*").unwrap(), RateCountry::Any);
        assert!(RateCountry::parse("ZZ").is_err());
        assert!(RateCountry::parse("VEN").is_err());
        assert!(RateCountry::parse("").is_err());
    }

    #[test]
    fn lookup_is_the_country_then_the_default_then_unknown() {
        use PricingCategory::*;
        let card = card(&[("VE", Marketing, 0.0436), ("*", Marketing, 0.05), ("*", Utility, 0.008)]).unwrap();
        assert_eq!(card.price_for_country_code(Some("VE"), Marketing), Some(Micros(43_600)));
        assert_eq!(card.price_for_country_code(Some("ve"), Marketing), Some(Micros(43_600)));
        assert_eq!(card.price_for_country_code(Some("CO"), Marketing), Some(Micros(50_000)));
        assert_eq!(card.price_for_country_code(Some("VE"), Utility), Some(Micros(8_000)));
        assert_eq!(card.price_for_country_code(None, Utility), Some(Micros(8_000)));
        assert_eq!(
            card.price_for_country_code(Some("VE"), Authentication),
            None,
            "no rate is unknown, not zero"
        );
        assert_eq!(card.price(Region::parse("VE").ok(), Marketing), Some(Micros(43_600)));
        let mut sum = CostSum::default();
        sum.add(card.price_for_country_code(Some("VE"), Marketing));
        sum.add(card.price_for_country_code(Some("US"), Authentication));
        assert_eq!(
            sum,
            CostSum {
                amount: Micros(43_600),
                unpriced: 1
            }
        );
        assert_eq!(PricingCategory::of_template(TemplateCategory::Utility), Utility);
    }

    #[test]
    fn a_card_refuses_duplicates_and_excess() {
        use PricingCategory::*;
        assert!(matches!(
            card(&[("VE", Marketing, 0.04), ("ve", Marketing, 0.05)]),
            Err(RateCardError::Duplicate { .. })
        ));
        assert!(card(&[("VE", Marketing, 0.04), ("VE", Utility, 0.05)]).is_ok());
        let many = (0..=RateCard::MAX_RATES)
            .map(|_| Rate {
                country: RateCountry::Any,
                category: Marketing,
                price: Micros(1),
            })
            .collect();
        assert!(matches!(
            RateCard::new(Currency::parse("USD").unwrap(), many),
            Err(RateCardError::TooMany { .. })
        ));
    }
}
