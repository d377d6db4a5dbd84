//! `/api/v1/pricing`: the tenant's rate card, what it pays per message by country and
//! category (api.md "Additions, 2026-12"). Estimates (the import answer's
//! `estimated_cost`) and bills (the campaign object's `cost`) are priced with it; prices are
//! kept in exact micro-units of its currency ([`pregon_domain::Micros`]).

use axum::extract::State;
use axum::Json;
use pregon_domain::{Currency, Micros, PricingCategory, Rate, RateCard, RateCountry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Admin, Caller, Viewer, Who};
use super::error::ApiError;
use super::extract::ApiJson;
use super::AppState;

/// One rate: a country (ISO 3166 alpha-2, or `*` for every other) and category, its price
/// per message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// `VE`, `US`, … or `*`.
    pub country: String,
    /// `marketing`, `marketing_lite`, `utility`, `authentication`,
    /// `authentication_international`, `service` or `referral_conversion`.
    pub category: String,
    /// Per message, in the card's currency: finite, from 0 to 1000, at most 6 decimals.
    pub price: f64,
}

/// A rate card as given and as answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateCardBody {
    /// ISO 4217 (`USD`).
    pub currency: String,
    /// At most 2,000; no (country, category) twice.
    pub rates: Vec<RateBody>,
}

fn view(card: &RateCard) -> RateCardBody {
    RateCardBody {
        currency: card.currency().to_string(),
        rates: card
            .rates()
            .map(|r| RateBody {
                country: r.country.as_str().to_string(),
                category: r.category.as_str().to_string(),
                price: r.price.as_units(),
            })
            .collect(),
    }
}

/// The body, as a rate card: every problem is a 422 naming the field.
fn parse(body: RateCardBody) -> Result<RateCard, ApiError> {
    let currency = Currency::parse(&body.currency).map_err(|e| ApiError::invalid_field("currency", e.to_string()))?;
    if body.rates.len() > RateCard::MAX_RATES {
        return Err(ApiError::invalid_field(
            "rates",
            format!("at most {} rates", RateCard::MAX_RATES),
        ));
    }
    let mut rates = Vec::with_capacity(body.rates.len());
    for (i, r) in body.rates.iter().enumerate() {
        let country = RateCountry::parse(&r.country)
            .map_err(|e| ApiError::invalid_field(&format!("rates[{i}].country"), e.to_string()))?;
        let category = PricingCategory::parse_meta(&r.category).ok_or_else(|| {
            ApiError::invalid_field(
                &format!("rates[{i}].category"),
                pregon_domain::RateCardError::Category(r.category.chars().take(40).collect()).to_string(),
            )
        })?;
        let price = Micros::from_price(r.price)
            .map_err(|e| ApiError::invalid_field(&format!("rates[{i}].price"), e.to_string()))?;
        rates.push(Rate {
            country,
            category,
            price,
        });
    }
    RateCard::new(currency, rates).map_err(|e| ApiError::invalid_field("rates", e.to_string()))
}

/// The tenant's rate card. 404 `not_found` when it never set one.
#[utoipa::path(get, path = "/api/v1/pricing", tag = "pricing",
    responses((status = 200, body = RateCardBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
) -> Result<Json<RateCardBody>, ApiError> {
    match state.store.get_rate_card(&tenant.id).await? {
        Some(card) => Ok(Json(view(&card))),
        None => Err(ApiError::not_found("rate card")),
    }
}

/// Replaces the tenant's rate card whole (audit `pricing.update`). Messages already billed
/// keep the price they were billed at.
#[utoipa::path(put, path = "/api/v1/pricing", tag = "pricing", request_body = RateCardBody,
    responses((status = 200, body = RateCardBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Admin(who): Admin,
    ApiJson(body): ApiJson<RateCardBody>,
) -> Result<Json<RateCardBody>, ApiError> {
    let card = parse(body)?;
    state
        .store
        .put_rate_card(who.tenant_id(), &card, state.clock.now_millis(), &who.change)
        .await?;
    tracing::info!(tenant = %who.tenant_id(), rates = card.rates().count(), "rate card replaced");
    Ok(Json(view(&card)))
}
