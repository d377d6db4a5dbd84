//! The new-campaign wizard at `/campaigns/new` (issue 12, "New campaign").
//!
//! The page is rendered here with the tenant's templates and senders; `assets/wizard.js`
//! does the rest in the browser, through the same API as everyone:
//! 1. name, template and sender; a CSV file or pasted rows, whose separator and header row
//!    are detected (and can be changed); the columns shown, and mapped: which is the phone,
//!    which feeds each template variable;
//! 2. a dry run of the import (`POST /api/v1/campaigns/import` with `dry_run=true` and the
//!    `field_mapping`), shown as a report by reason, each reason's rows downloadable as CSV;
//! 3. the first rows as the recipient sees them (`POST /api/v1/templates/{id}/preview`);
//! 4. start now, schedule (with a window) or save as draft, priority, rate, retries and
//!    expiry, with the duration estimated from the sender's limits;
//! 5. the import itself, with one `Idempotency-Key` per page, then the campaign's page.
//!
//! A viewer, who may not create campaigns, gets the 403 page and no form.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use pregon_domain::Role;
use pregon_store::{PageRequest, SenderRecord, TemplateRecord};

use super::access::SignedIn;
use super::i18n::Lang;
use super::layout::{Layout, Section};
use super::render;
use crate::http::error::ApiError;
use crate::http::AppState;

/// Templates and senders offered (the first of each, by id).
const CHOICES: i64 = 200;

/// The words `wizard.js` writes, by the key it asks for (`wizard-js-…`).
const SCRIPT_MESSAGES: &[&str] = &[
    "wizard-js-column",
    "wizard-js-unmapped",
    "wizard-js-map-phone",
    "wizard-js-map-variable",
    "wizard-js-map-timezone",
    "wizard-js-sample-caption",
    "wizard-js-row",
    "wizard-js-read",
    "wizard-js-no-rows",
    "wizard-js-no-template",
    "wizard-js-need-read",
    "wizard-js-validating",
    "wizard-js-validated",
    "wizard-js-reason",
    "wizard-js-count",
    "wizard-js-download",
    "wizard-js-download-label",
    "wizard-js-accepted",
    "wizard-js-invalid_phone",
    "wizard-js-duplicate",
    "wizard-js-opted_out",
    "wizard-js-no_consent",
    "wizard-js-missing_variable",
    "wizard-js-preview-of",
    "wizard-js-preview-none",
    "wizard-js-header-image",
    "wizard-js-estimate",
    "wizard-js-estimate-days",
    "wizard-js-estimate-none",
    "wizard-js-cost",
    "wizard-js-cost-unpriced",
    "wizard-js-creating",
    "wizard-js-created",
    "wizard-js-csv-reason",
    "wizard-js-csv-row",
    "wizard-js-report-caption",
    "wizard-js-header-yes",
    "wizard-js-header-no",
    "wizard-js-sep-comma",
    "wizard-js-sep-semicolon",
    "wizard-js-sep-tab",
];

/// A template as offered: what the mapper and the preview need.
struct TemplateChoice {
    id: String,
    label: String,
    /// Its variables as a JSON array.
    variables: String,
}

/// A sender as offered, with the limits the estimate is made from.
struct SenderChoice {
    id: String,
    label: String,
    messages_per_second: f64,
    /// 0: no daily limit.
    daily_limit: i64,
    is_default: bool,
}

/// A weekday of the sending window.
struct Day {
    /// ISO number: 1 = Monday.
    number: u8,
    label: String,
}

#[derive(Template)]
#[template(path = "wizard.html")]
struct WizardPage {
    layout: Layout,
    templates: Vec<TemplateChoice>,
    senders: Vec<SenderChoice>,
    days: Vec<Day>,
    /// `SCRIPT_MESSAGES` in the page's language, as a JSON object.
    messages: String,
    /// Generated once per page: a double submit creates one campaign.
    idempotency_key: String,
}

fn template_choice(t: &TemplateRecord) -> TemplateChoice {
    let variables: Vec<String> = pregon_domain::Template::parse(&t.body, t.header_image.as_deref())
        .map(|p| p.variables().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    TemplateChoice {
        id: t.id.clone(),
        label: format!("{} ({})", t.name, t.language),
        variables: serde_json::to_string(&variables).unwrap_or_else(|_| "[]".into()),
    }
}

fn sender_choice(s: &SenderRecord) -> SenderChoice {
    SenderChoice {
        id: s.id.clone(),
        label: format!("{} · {}", s.name, s.phone_number),
        messages_per_second: s.rate(),
        daily_limit: s.daily_limit.unwrap_or(0),
        is_default: s.is_default,
    }
}

fn script_messages(lang: Lang) -> String {
    let map: serde_json::Map<String, serde_json::Value> = SCRIPT_MESSAGES
        .iter()
        .map(|k| (k.trim_start_matches("wizard-js-").to_string(), lang.t(k).into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn days(lang: Lang) -> Vec<Day> {
    (1..=7u8)
        .map(|number| Day {
            number,
            label: lang.t(&format!("wizard-day-{number}")),
        })
        .collect()
}

fn page(layout: Layout, templates: Vec<TemplateChoice>, senders: Vec<SenderChoice>) -> WizardPage {
    let lang = layout.lang;
    WizardPage {
        templates,
        senders,
        days: days(lang),
        messages: script_messages(lang),
        idempotency_key: pregon_domain::id::new_id("wiz"),
        layout,
    }
}

/// `GET /campaigns/new`.
pub async fn new(State(state): State<AppState>, layout: Layout, who: SignedIn) -> Result<Response, Response> {
    let layout = layout.at(Section::NewCampaign);
    if !who.may(Role::Operator) {
        return Err(super::error_page(&layout, ApiError::forbidden(Role::Operator)));
    }
    let all = PageRequest {
        limit: CHOICES,
        cursor: None,
    };
    let templates = state
        .store
        .list_templates(who.tenant_id(), &all)
        .await
        .map_err(|e| super::error_page(&layout, e.into()))?;
    let senders = state
        .store
        .list_senders(who.tenant_id(), &all)
        .await
        .map_err(|e| super::error_page(&layout, e.into()))?;
    let page = page(
        layout,
        templates.items.iter().map(template_choice).collect(),
        senders.items.iter().map(sender_choice).collect(),
    );
    Ok(render(page.layout.lang, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::layout::Viewer;

    fn html(lang: Lang) -> String {
        let mut layout = Layout::new(lang, "/campaigns/new").at(Section::NewCampaign);
        layout.viewer = Some(Viewer {
            name: "Ana".into(),
            tenant: "Tienda".into(),
        });
        let templates = vec![TemplateChoice {
            id: "tpl_1".into(),
            label: "<b>aviso</b> (es)".into(),
            variables: r#"["nombre"]"#.into(),
        }];
        let senders = vec![SenderChoice {
            id: "snd_1".into(),
            label: "Principal".into(),
            messages_per_second: 20.0,
            daily_limit: 1000,
            is_default: true,
        }];
        page(layout, templates, senders).render().expect("renders")
    }

    #[test]
    fn the_wizard_has_every_word_in_both_languages_and_escapes_names() {
        for lang in Lang::ALL {
            let html = html(lang);
            assert!(!html.contains('⟦'), "{}: a message is missing:\n{html}", lang.code());
            assert!(html.contains("&#60;b&#62;aviso"), "{html}");
            assert!(!html.contains("<b>aviso"));
            assert!(!html.to_lowercase().contains(" style="));
            for key in SCRIPT_MESSAGES {
                assert!(!lang.t(key).contains('⟦'), "{key}");
            }
        }
    }
}
