//! Pricing: what a tenant's campaigns cost. A rate card per tenant (its own prices per
//! country and category), each campaign's estimate, written with the campaign at import,
//! and each message's pricing as Meta's status webhooks bill it, priced once, when it first
//! arrives, with the rate card of that moment: later rate changes never rewrite what was
//! billed.
//!
//! Money is integer micro-units of the card's currency ([`Micros`]): every sum is exact.

use std::collections::HashMap;

use async_trait::async_trait;
use pregon_domain::{
    AuditAction, CostSum, Currency, Micros, PhoneNumber, PricingCategory, PricingType, Rate, RateCard, RateCountry,
    TemplateCategory,
};
use serde_json::json;

use crate::audit::{self, AuditEntry, Change};
use crate::db::{sql, DbRow, Dialect, Tx, Ty};
use crate::error::{Result, StoreError};
use crate::records::Millis;
use crate::rows::{parse_enum, RecordRow};
use crate::SqlStore;

/// The `pricing` a provider's status webhook carried for one message (Meta's
/// `statuses[].pricing`), and how to find the message (as [`crate::StatusUpdate`] does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPricing {
    pub sender_id: String,
    pub provider_message_id: String,
    /// Our message id as the provider echoed it, for a message whose provider id was never
    /// recorded.
    pub message_hint: Option<i64>,
    /// What Meta billed it as; `None` when it did not say (or said something unknown).
    pub category: Option<PricingCategory>,
    pub kind: Option<PricingType>,
    pub billable: Option<bool>,
}

impl ReportedPricing {
    /// Charged: billable, and not of a free type (customer-service window, free entry point).
    pub fn is_charged(&self) -> bool {
        self.billable.unwrap_or(false) && self.kind.is_none_or(PricingType::is_charged)
    }
}

/// A campaign's cost, in the currency of its estimate (or of the tenant's rate card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignCost {
    /// `None` only for charged messages of a tenant that never had a rate card.
    pub currency: Option<Currency>,
    /// The estimate at import: `None` when the tenant had no rate card then.
    pub estimated: Option<CostSum>,
    /// The charged messages priced so far (in this currency), and how many of them had no
    /// rate (or were priced in another currency).
    pub billed: CostSum,
    /// Messages the provider said it charges.
    pub billable_messages: u64,
}

/// A tenant's rate card, the estimates and the bills.
#[async_trait]
pub trait PricingStore: Send + Sync {
    /// Replaces the tenant's rate card, with a `pricing.update` audit entry.
    async fn put_rate_card(&self, tenant_id: &str, card: &RateCard, now: Millis, change: &Change) -> Result<()>;
    /// The tenant's rate card; `None` when it never set one.
    async fn get_rate_card(&self, tenant_id: &str) -> Result<Option<RateCard>>;
    /// Keeps the pricing reported for messages of their senders: the first report for a
    /// message is kept (priced by the tenant's rate card now, if charged), any later one
    /// (another status, a replayed webhook) changes nothing. Reports about unknown
    /// messages are ignored. Returns how many messages got their pricing now.
    async fn record_pricing(&self, reports: &[ReportedPricing], now: Millis) -> Result<u64>;
    /// The costs of the tenant's campaigns among `campaign_ids`: those with an estimate,
    /// billed messages, or (with a rate card) any campaign. Another tenant's are absent.
    async fn campaign_costs(&self, tenant_id: &str, campaign_ids: &[String]) -> Result<HashMap<String, CampaignCost>>;
}

/// The estimate of messages of a template `category` to `phones` (E.164): the sum of each
/// one's rate by its phone's country, unpriced ones counted apart.
/// The country a recipient is priced by: its phone's, else its BSUID's prefix.
fn recipient_country(recipient: &str) -> Option<String> {
    match PhoneNumber::parse(recipient, None) {
        Ok(phone) => phone.region().map(|r| r.code()),
        Err(_) => pregon_domain::BusinessUserId::parse(recipient)
            .ok()
            .map(|u| u.country_code().to_string()),
    }
}

/// `recipients` are identities: an E.164 phone, or a BSUID for a recipient without one,
/// priced by the BSUID's country prefix.
pub fn estimate<'a>(card: &RateCard, category: TemplateCategory, recipients: impl Iterator<Item = &'a str>) -> CostSum {
    let category = PricingCategory::of_template(category);
    let mut sum = CostSum::default();
    for recipient in recipients {
        sum.add(card.price_for_country_code(recipient_country(recipient).as_deref(), category));
    }
    sum
}

const CARD_HEAD: &str = "select currency from rate_card where tenant_id = $1";
const CARD_RATES: &str =
    "select country, category, price_micros from rate_card_rate where tenant_id = $1 order by country, category";

fn card_from_rows(head: Option<DbRow>, rows: &[DbRow]) -> Result<Option<RateCard>> {
    let Some(head) = head else {
        return Ok(None);
    };
    let corrupt = |e: pregon_domain::RateCardError| StoreError::Corrupt(format!("rate card: {e}"));
    let currency = Currency::parse(&head.text("currency")?).map_err(corrupt)?;
    let rates = rows
        .iter()
        .map(|r| {
            Ok(Rate {
                country: RateCountry::parse(&r.text("country")?).map_err(corrupt)?,
                category: parse_enum(&r.text("category")?)?,
                price: Micros(r.int("price_micros")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    RateCard::new(currency, rates).map(Some).map_err(corrupt)
}

/// The tenant's rate card, read in a writing transaction.
async fn read_card(tx: &mut Tx, tenant_id: &str) -> Result<Option<RateCard>> {
    let head = tx.fetch_optional(sql(CARD_HEAD).bind(tenant_id)).await?;
    if head.is_none() {
        return Ok(None);
    }
    let rows = tx.fetch_all(sql(CARD_RATES).bind(tenant_id)).await?;
    card_from_rows(head, &rows)
}

/// Writes a new campaign's estimate, when its tenant has a rate card, in the campaign's
/// transaction. `phones` are its accepted (not skipped) recipients.
pub(crate) async fn write_estimate<'a>(
    tx: &mut Tx,
    tenant_id: &str,
    campaign_id: &str,
    template_id: &str,
    phones: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let Some(card) = read_card(tx, tenant_id).await? else {
        return Ok(());
    };
    let row = tx
        .fetch_one(sql("select category from template where template_id = $1").bind(template_id))
        .await?;
    let category: TemplateCategory = parse_enum(&row.text("category")?)?;
    let sum = estimate(&card, category, phones);
    tx.execute(
        sql(
            "insert into campaign_estimate (campaign_id, tenant_id, currency, amount_micros, unpriced) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(campaign_id)
        .bind(tenant_id)
        .bind(card.currency().as_str())
        .bind(sum.amount.0)
        .bind(sum.unpriced as i64),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl PricingStore for SqlStore {
    async fn put_rate_card(&self, tenant_id: &str, card: &RateCard, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "insert into rate_card (tenant_id, currency, updated_at) values ($1, $2, $3) \
                 on conflict (tenant_id) do update set currency = excluded.currency, updated_at = excluded.updated_at",
            )
            .bind(tenant_id)
            .bind(card.currency().as_str())
            .bind(now),
        )
        .await?;
        tx.execute(sql("delete from rate_card_rate where tenant_id = $1").bind(tenant_id))
            .await?;
        let d = tx.dialect();
        let lines = d.json_rows(
            "$2",
            &[("country", Ty::Text), ("category", Ty::Text), ("price", Ty::Int)],
        );
        let rows: Vec<serde_json::Value> = card
            .rates()
            .map(|r| json!([r.country.as_str(), r.category.as_str(), r.price.0]))
            .collect();
        let n = rows.len();
        if n > 0 {
            tx.execute(
                sql(format!(
                    "insert into rate_card_rate (tenant_id, country, category, price_micros) \
                     select $1, v.country, v.category, v.price from {lines} as v"
                ))
                .bind(tenant_id)
                .bind(serde_json::Value::Array(rows).to_string()),
            )
            .await?;
        }
        let entry = AuditEntry::new(AuditAction::PricingUpdate, "pricing", tenant_id)
            .with(json!({"currency": card.currency().as_str(), "rates": n}));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }

    async fn get_rate_card(&self, tenant_id: &str) -> Result<Option<RateCard>> {
        let head = self.db.fetch_optional(sql(CARD_HEAD).bind(tenant_id)).await?;
        if head.is_none() {
            return Ok(None);
        }
        let rows = self.db.fetch_all(sql(CARD_RATES).bind(tenant_id)).await?;
        card_from_rows(head, &rows)
    }

    async fn record_pricing(&self, reports: &[ReportedPricing], now: Millis) -> Result<u64> {
        if reports.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        let keys: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| json!([r.sender_id, r.provider_message_id, r.message_hint]))
            .collect();
        let k = d.json_rows("$1", &[("sender_id", Ty::Text), ("pid", Ty::Text), ("hint", Ty::Int)]);
        // The messages of those senders not priced yet, with the report (by position) that
        // found each.
        let found = tx
            .fetch_all(
                sql(format!(
                    "select k.n as n, m.message_id, m.tenant_id, m.campaign_id, m.phone from {k} as k \
                       join message as m on m.sender_id = k.sender_id \
                        and (m.provider_message_id = k.pid or (m.provider_message_id is null and m.message_id = k.hint)) \
                     where not exists (select 1 from message_pricing as p where p.message_id = m.message_id) \
                     order by k.n"
                ))
                .bind(serde_json::Value::Array(keys).to_string()),
            )
            .await?;
        let mut cards: HashMap<String, Option<RateCard>> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for f in &found {
            let message_id = f.int("message_id")?;
            if !seen.insert(message_id) {
                continue; // an earlier report of this batch prices it
            }
            // Positions count from 0 in SQLite's json_each and from 1 with ordinality.
            let n = f.int("n")? as usize - usize::from(d == Dialect::Postgres);
            let Some(report) = reports.get(n) else { continue };
            let tenant_id = f.text("tenant_id")?;
            if !cards.contains_key(&tenant_id) {
                let card = read_card(&mut tx, &tenant_id).await?;
                cards.insert(tenant_id.clone(), card);
            }
            let card = cards.get(&tenant_id).and_then(Option::as_ref);
            let country = recipient_country(&f.text("phone")?);
            let charged = report.is_charged();
            let price = match (charged, card, report.category) {
                (true, Some(card), Some(category)) => card.price_for_country_code(country.as_deref(), category),
                _ => None,
            };
            rows.push(json!([
                message_id,
                tenant_id,
                f.opt_text("campaign_id")?,
                report.category.map(PricingCategory::as_str),
                report.kind.map(PricingType::as_str),
                report.billable,
                charged,
                country,
                card.map(|c| c.currency().as_str().to_string()),
                price.map(|p| p.0),
            ]));
        }
        let stored = rows.len() as u64;
        if !rows.is_empty() {
            let v = d.json_rows(
                "$1",
                &[
                    ("message_id", Ty::Int),
                    ("tenant_id", Ty::Text),
                    ("campaign_id", Ty::Text),
                    ("category", Ty::Text),
                    ("kind", Ty::Text),
                    ("billable", Ty::Flag),
                    ("charged", Ty::Flag),
                    ("country", Ty::Text),
                    ("currency", Ty::Text),
                    ("price", Ty::Int),
                ],
            );
            tx.execute(
                sql(format!(
                    "insert into message_pricing (message_id, tenant_id, campaign_id, category, pricing_type, \
                       billable, charged, country, currency, price_micros, recorded_at) \
                     select v.message_id, v.tenant_id, v.campaign_id, v.category, v.kind, v.billable, v.charged, \
                       v.country, v.currency, v.price, $2 from {v} as v where true \
                     on conflict (message_id) do nothing"
                ))
                .bind(serde_json::Value::Array(rows).to_string())
                .bind(now),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn campaign_costs(&self, tenant_id: &str, campaign_ids: &[String]) -> Result<HashMap<String, CampaignCost>> {
        let mut out = HashMap::new();
        if campaign_ids.is_empty() {
            return Ok(out);
        }
        let d = self.db.dialect();
        let card_currency = self.get_rate_card(tenant_id).await?.map(|c| c.currency().clone());
        let listed = d.in_list("c.campaign_id", "$2");
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select c.campaign_id, e.currency as estimate_currency, e.amount_micros, e.unpriced \
                     from campaign as c left join campaign_estimate as e on e.campaign_id = c.campaign_id \
                     where c.tenant_id = $1 and {listed}"
                ))
                .bind(tenant_id)
                .bind(crate::db::Texts(campaign_ids)),
            )
            .await?;
        let listed = d.in_list("campaign_id", "$2");
        let billed = self
            .db
            .fetch_all(
                sql(format!(
                    "select campaign_id, currency, count(*) as n, count(price_micros) as priced, \
                       cast(coalesce(sum(price_micros), 0) as bigint) as amount \
                     from message_pricing where tenant_id = $1 and charged and {listed} \
                     group by campaign_id, currency"
                ))
                .bind(tenant_id)
                .bind(crate::db::Texts(campaign_ids)),
            )
            .await?;
        let mut bills: HashMap<String, Vec<(Option<String>, u64, u64, i64)>> = HashMap::new();
        for b in &billed {
            bills.entry(b.text("campaign_id")?).or_default().push((
                b.opt_text("currency")?,
                b.int("n")? as u64,
                b.int("priced")? as u64,
                b.int("amount")?,
            ));
        }
        let corrupt = |e: pregon_domain::RateCardError| StoreError::Corrupt(format!("campaign estimate: {e}"));
        for r in &rows {
            let id = r.text("campaign_id")?;
            let estimate_currency = r
                .opt_text("estimate_currency")?
                .map(|c| Currency::parse(&c))
                .transpose()
                .map_err(corrupt)?;
            let estimated = match estimate_currency {
                Some(_) => Some(CostSum {
                    amount: Micros(r.int("amount_micros")?),
                    unpriced: r.int("unpriced")? as u64,
                }),
                None => None,
            };
            let lines = bills.remove(&id).unwrap_or_default();
            let currency = estimate_currency.or_else(|| card_currency.clone()).or_else(|| {
                lines
                    .iter()
                    .find_map(|(c, ..)| c.as_deref())
                    .and_then(|c| Currency::parse(c).ok())
            });
            if currency.is_none() && lines.is_empty() {
                continue;
            }
            let mut billed = CostSum::default();
            let mut billable_messages = 0;
            for (c, n, priced, amount) in lines {
                billable_messages += n;
                if c.is_some() && c.as_deref() == currency.as_ref().map(Currency::as_str) {
                    billed.amount = billed.amount.saturating_add(Micros(amount));
                    billed.unpriced += n - priced;
                } else {
                    billed.unpriced += n;
                }
            }
            out.insert(
                id,
                CampaignCost {
                    currency,
                    estimated,
                    billed,
                    billable_messages,
                },
            );
        }
        Ok(out)
    }
}
