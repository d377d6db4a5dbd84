//! The templates the simulator knows, and their changing state: status (which decides
//! whether a send goes), category (which prices status webhooks and decides whether a
//! marketing opt-out applies) and quality.
//!
//! Templates come from `--templates` (Meta's template objects) and from the control
//! endpoints; a name the catalog does not know is APPROVED in every language and priced as
//! marketing, as the simulator always did (`--unapproved-templates` makes it REJECTED).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context};
use pregon_domain::{TemplateCategory, TemplateQuality};
use serde_json::{json, Value};

/// Every template event the simulator can play (Meta's `event` values).
const TEMPLATE_EVENTS: &[&str] = &[
    "APPROVED",
    "REJECTED",
    "PENDING",
    "PAUSED",
    "DISABLED",
    "REINSTATED",
    "PENDING_DELETION",
    "DELETED",
    "FLAGGED",
    "IN_APPEAL",
    "LIMIT_EXCEEDED",
    "LOCKED",
    "UNLOCKED",
    "ARCHIVED",
    "UNARCHIVED",
];

/// Whether `event` is one of Meta's template events.
pub(crate) fn is_template_event(event: &str) -> bool {
    TEMPLATE_EVENTS.contains(&event)
}

/// The template status an event leaves; `None`: the status does not change (a flag, a
/// lock, an archive, a limit).
pub(crate) fn status_after(event: &str) -> Option<&'static str> {
    match event {
        "APPROVED" | "REINSTATED" => Some("APPROVED"),
        "REJECTED" => Some("REJECTED"),
        "PENDING" => Some("PENDING"),
        "IN_APPEAL" => Some("IN_APPEAL"),
        "PAUSED" => Some("PAUSED"),
        "DISABLED" => Some("DISABLED"),
        "PENDING_DELETION" => Some("PENDING_DELETION"),
        "DELETED" => Some("DELETED"),
        _ => None,
    }
}

/// One template in one language, as `--templates` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    /// Meta's status name, upper-case: `APPROVED`, `PAUSED`, `DISABLED`, `REJECTED`, …
    pub status: String,
    pub quality: TemplateQuality,
    /// `POSITIONAL` or `NAMED`, when given.
    pub parameter_format: Option<String>,
    /// Meta's `components` array, as given.
    pub components: Value,
}

impl TemplateSpec {
    /// A template the simulator did not know, created by a control request or an event.
    pub(crate) fn new(name: &str, language: &str) -> Self {
        TemplateSpec {
            name: name.to_string(),
            language: language.to_string(),
            category: TemplateCategory::Marketing,
            status: "APPROVED".into(),
            quality: TemplateQuality::Unknown,
            parameter_format: None,
            components: json!([]),
        }
    }

    /// Reads one of Meta's template objects: `name` and `language` are required; `category`
    /// defaults to MARKETING, `status` to APPROVED, `quality_score` to UNKNOWN.
    pub fn from_meta(object: &Value) -> anyhow::Result<Self> {
        let field = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let name = field("name").context("a template needs a name")?;
        let language = field("language").with_context(|| format!("template {name:?} needs a language"))?;
        let category = match field("category") {
            None => TemplateCategory::Marketing,
            Some(c) => {
                TemplateCategory::parse_meta(c).with_context(|| format!("template {name:?}: unknown category {c:?}"))?
            }
        };
        let status = field("status").unwrap_or("APPROVED").to_ascii_uppercase();
        if status_after(&status).is_none() && !matches!(status.as_str(), "LIMIT_EXCEEDED" | "ARCHIVED") {
            bail!("template {name:?}: unknown status {status:?}");
        }
        let quality = match object.get("quality_score") {
            Some(Value::Object(q)) => q.get("score").and_then(Value::as_str).map(TemplateQuality::parse_meta),
            Some(Value::String(s)) => Some(TemplateQuality::parse_meta(s)),
            _ => None,
        }
        .unwrap_or(TemplateQuality::Unknown);
        let components = match object.get("components") {
            None | Some(Value::Null) => json!([]),
            Some(c @ Value::Array(_)) => c.clone(),
            Some(_) => bail!("template {name:?}: components must be an array"),
        };
        Ok(TemplateSpec {
            name: name.to_string(),
            language: language.to_string(),
            category,
            status,
            quality,
            parameter_format: field("parameter_format").map(str::to_ascii_uppercase),
            components,
        })
    }
}

/// Reads `--templates`: a JSON array of Meta template objects.
pub(crate) fn read_templates(path: &Path) -> anyhow::Result<Vec<TemplateSpec>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--templates: cannot read {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("--templates: {} is not JSON", path.display()))?;
    let Value::Array(objects) = value else {
        bail!(
            "--templates: {} must hold a JSON array of template objects",
            path.display()
        );
    };
    objects
        .iter()
        .map(TemplateSpec::from_meta)
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("--templates: {}", path.display()))
}

/// A template's id: the same for the same name and language in every run.
pub(crate) fn template_id(name: &str, language: &str) -> u64 {
    1_000_000_000_000_000 + crate::engine::hash_of(&[name, language]) % 9_000_000_000_000_000
}

/// Meta's template pricing category names.
pub(crate) fn category_name(category: TemplateCategory) -> &'static str {
    match category {
        TemplateCategory::Marketing => "marketing",
        TemplateCategory::Utility => "utility",
        TemplateCategory::Authentication => "authentication",
    }
}

/// Meta's upper-case category names.
pub(crate) fn category_meta(category: TemplateCategory) -> &'static str {
    match category {
        TemplateCategory::Marketing => "MARKETING",
        TemplateCategory::Utility => "UTILITY",
        TemplateCategory::Authentication => "AUTHENTICATION",
    }
}

fn quality_meta(quality: TemplateQuality) -> &'static str {
    match quality {
        TemplateQuality::Green => "GREEN",
        TemplateQuality::Yellow => "YELLOW",
        TemplateQuality::Red => "RED",
        TemplateQuality::Unknown => "UNKNOWN",
    }
}

/// A template as `GET /{waba_id}/message_templates` answers it.
pub(crate) fn template_object(spec: &TemplateSpec) -> Value {
    let mut object = json!({
        "name": spec.name,
        "language": spec.language,
        "status": spec.status,
        "category": category_meta(spec.category),
        "quality_score": {"score": quality_meta(spec.quality)},
        "components": spec.components,
        "id": template_id(&spec.name, &spec.language).to_string(),
    });
    if let Some(format) = &spec.parameter_format {
        object["parameter_format"] = format.clone().into();
    }
    object
}

/// What the Cloud API answers a send of a template in `status`: `None` when it goes.
pub(crate) fn send_refusal(status: &str) -> Option<u32> {
    match status {
        "APPROVED" => None,
        "PAUSED" => Some(132015),
        "DISABLED" => Some(132016),
        _ => Some(132001),
    }
}

/// The catalog, shared by the API handlers and the webhook workers (which hold paced
/// messages until their template's fate is known).
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    entries: Mutex<BTreeMap<(String, String), TemplateSpec>>,
}

impl Catalog {
    pub(crate) fn new(specs: &[TemplateSpec]) -> Self {
        let entries = specs
            .iter()
            .map(|s| ((s.name.clone(), s.language.clone()), s.clone()))
            .collect();
        Catalog {
            entries: Mutex::new(entries),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), TemplateSpec>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The template in that language, if the catalog knows it.
    pub(crate) fn get(&self, name: &str, language: &str) -> Option<TemplateSpec> {
        self.lock().get(&(name.to_string(), language.to_string())).cloned()
    }

    /// Every language the catalog knows `name` in.
    pub(crate) fn languages(&self, name: &str) -> Vec<String> {
        self.lock()
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Every template, by name then language.
    pub(crate) fn all(&self) -> Vec<TemplateSpec> {
        self.lock().values().cloned().collect()
    }

    /// Changes one template (created as an approved marketing template if unknown) and
    /// returns it as it was before and after.
    pub(crate) fn update(
        &self,
        name: &str,
        language: &str,
        change: impl FnOnce(&mut TemplateSpec),
    ) -> (TemplateSpec, TemplateSpec) {
        let mut entries = self.lock();
        let entry = entries
            .entry((name.to_string(), language.to_string()))
            .or_insert_with(|| TemplateSpec::new(name, language));
        let before = entry.clone();
        change(entry);
        (before, entry.clone())
    }

    /// Whether a message of that template, held by pacing, must be dropped: the template
    /// got paused or disabled meanwhile.
    pub(crate) fn drops_held(&self, name: &str, language: &str) -> bool {
        self.get(name, language).is_some_and(|t| {
            matches!(
                t.status.as_str(),
                "PAUSED" | "DISABLED" | "PENDING_DELETION" | "DELETED"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metas_template_objects() {
        let t = TemplateSpec::from_meta(&json!({"name": "saldo", "language": "es", "category": "UTILITY",
            "status": "paused", "quality_score": {"score": "RED"}, "parameter_format": "positional",
            "components": [{"type": "BODY", "text": "Hola {{1}}"}]}))
        .unwrap();
        assert_eq!(
            (t.category, t.status.as_str(), t.quality),
            (TemplateCategory::Utility, "PAUSED", TemplateQuality::Red)
        );
        assert_eq!(t.parameter_format.as_deref(), Some("POSITIONAL"));
        let o = template_object(&t);
        assert_eq!(
            (o["category"].as_str(), o["quality_score"]["score"].as_str()),
            (Some("UTILITY"), Some("RED"))
        );
        assert_eq!(o["id"], template_id("saldo", "es").to_string());

        let d = TemplateSpec::from_meta(&json!({"name": "x", "language": "en"})).unwrap();
        assert_eq!(
            (d.category, d.status.as_str()),
            (TemplateCategory::Marketing, "APPROVED")
        );
        assert!(TemplateSpec::from_meta(&json!({"language": "en"})).is_err());
        assert!(TemplateSpec::from_meta(&json!({"name": "x", "language": "en", "category": "NEWS"})).is_err());
        assert!(TemplateSpec::from_meta(&json!({"name": "x", "language": "en", "status": "MAYBE"})).is_err());
        assert!(TemplateSpec::from_meta(&json!({"name": "x", "language": "en", "components": {}})).is_err());
    }

    #[test]
    fn statuses_decide_sends_and_held_messages() {
        assert_eq!(send_refusal("APPROVED"), None);
        assert_eq!(send_refusal("PAUSED"), Some(132015));
        assert_eq!(send_refusal("DISABLED"), Some(132016));
        assert_eq!(send_refusal("REJECTED"), Some(132001));
        assert_eq!(status_after("REINSTATED"), Some("APPROVED"));
        assert_eq!(status_after("FLAGGED"), None);
        let c = Catalog::new(&[]);
        assert!(!c.drops_held("t", "es"));
        let (before, after) = c.update("t", "es", |t| t.status = "PAUSED".into());
        assert_eq!((before.status.as_str(), after.status.as_str()), ("APPROVED", "PAUSED"));
        assert!(c.drops_held("t", "es"));
        assert_eq!(c.languages("t"), ["es"]);
    }
}
