//! Templates as a provider holds them: Meta's template objects (`GET
//! /{waba_id}/message_templates`, docs/providers.md §2), read into [`ProviderTemplate`] so that
//! `POST /api/v1/templates/sync` can create or update pregon's templates without anyone
//! retyping them.
//!
//! A template object carries `name`, `language`, `status`, `category`, `quality_score`
//! (`{"score": "GREEN", …}`), `parameter_format` (`POSITIONAL` or `NAMED`) and `components`:
//! an optional `HEADER` (`format` `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`, with an
//! `example`), the `BODY` (`text` with `{{1}}` or `{{first_name}}` placeholders, and an
//! `example`), a `FOOTER` and `BUTTONS`. Everything is read tolerantly: a field of an
//! unexpected type counts as absent; only a template without a name or a language is refused.

use pregon_domain::{TemplateCategory, TemplateQuality, TemplateStatus};
use serde_json::Value;

/// How a template's placeholders are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterFormat {
    /// `{{1}}`, `{{2}}`, …: values go in number order, and pregon's field mapping says which
    /// contact field fills which number.
    Positional,
    /// `{{first_name}}`: each value goes with its `parameter_name`.
    Named,
}

/// What a template's header shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderFormat {
    Text,
    Image,
    Video,
    Document,
    Location,
    /// An animated header (Marketing Messages API only).
    Gif,
    /// A format this version does not know.
    Other,
}

impl HeaderFormat {
    fn parse(format: &str) -> Self {
        match format.trim().to_ascii_uppercase().as_str() {
            "TEXT" => Self::Text,
            "IMAGE" => Self::Image,
            "VIDEO" => Self::Video,
            "DOCUMENT" => Self::Document,
            "LOCATION" => Self::Location,
            "GIF" => Self::Gif,
            _ => Self::Other,
        }
    }

    /// Whether the header is a media file (an example handle, a link at send time).
    pub fn is_media(self) -> bool {
        matches!(self, Self::Image | Self::Video | Self::Document | Self::Gif)
    }
}

/// A template's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateHeader {
    pub format: HeaderFormat,
    /// The header text, for `TEXT` headers.
    pub text: Option<String>,
    /// The header text's placeholders, in parameter order.
    pub placeholders: Vec<String>,
    /// The example Meta reviewed: a media handle or URL for media headers, the example value
    /// for a text header's placeholder.
    pub example: Option<String>,
}

/// One template in one language, as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTemplate {
    /// The provider's id of this translation.
    pub id: Option<String>,
    pub name: String,
    /// The language and locale code (`en_US`).
    pub language: String,
    /// `None` when the provider gave a category pregon does not know.
    pub category: Option<TemplateCategory>,
    /// The provider's own status name, upper-case (`APPROVED`, `IN_APPEAL`,
    /// `LIMIT_EXCEEDED`…): kept because pregon's [`TemplateStatus`] is coarser.
    pub provider_status: String,
    /// The provider's status in pregon's terms; `None` when it says nothing about
    /// sendability (`LIMIT_EXCEEDED`, `ARCHIVED`, new names).
    pub status: Option<TemplateStatus>,
    pub quality: TemplateQuality,
    pub parameter_format: ParameterFormat,
    pub header: Option<TemplateHeader>,
    /// The body text, placeholders as the provider writes them.
    pub body: Option<String>,
    /// The body's placeholders in parameter order: `["1", "2"]` (by number) or
    /// `["first_name", "order"]` (by first appearance). Each appears once.
    pub placeholders: Vec<String>,
    /// The example values Meta reviewed, one per placeholder and in the same order (empty
    /// strings where none was given).
    pub body_examples: Vec<String>,
    /// The template's time-to-live override (`message_send_ttl_seconds`), if set.
    pub ttl_seconds: Option<i64>,
    /// Why the template was rejected (`rejected_reason`), when it says (and is not `NONE`).
    pub rejected_reason: Option<String>,
}

/// A template object that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateSyncError {
    #[error("a template object must be a JSON object")]
    NotAnObject,
    #[error("a template object has no {0}")]
    Missing(&'static str),
}

fn string<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A string or a number, as text (Meta writes ids both ways).
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The placeholders of a text, as written between `{{` and `}}`, trimmed, in order of
/// appearance, each once. An unclosed `{{` ends the search.
fn placeholders_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    out
}

fn is_positional(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// Puts placeholders in parameter order: positional ones by number, named ones as they are.
fn in_parameter_order(mut names: Vec<String>, format: ParameterFormat) -> Vec<String> {
    if format == ParameterFormat::Positional && names.iter().all(|n| is_positional(n)) {
        names.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
    }
    names
}

/// Rewrites each `{{placeholder}}` of `text` with `rename(placeholder)`, leaving the rest
/// as it is: how a Meta body (`Hi {{1}}`) becomes a pregon body (`Hi {{nombre}}`) through a
/// template's field mapping.
pub fn rewrite_placeholders(text: &str, rename: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str("{{");
        out.push_str(&rename(after[..end].trim()));
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The example values of a body, in placeholder order.
fn body_examples(example: Option<&Value>, placeholders: &[String], format: ParameterFormat) -> Vec<String> {
    let mut values = vec![String::new(); placeholders.len()];
    let Some(example) = example else { return values };
    match format {
        ParameterFormat::Named => {
            for item in example
                .get("body_text_named_params")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(name), Some(value)) = (string(item, "param_name"), string(item, "example")) else {
                    continue;
                };
                if let Some(i) = placeholders.iter().position(|p| p == name) {
                    values[i] = value.to_string();
                }
            }
        }
        ParameterFormat::Positional => {
            let row = example
                .get("body_text")
                .and_then(Value::as_array)
                .and_then(|rows| rows.first())
                .and_then(Value::as_array);
            // `body_text[0][i]` is the example of `{{i+1}}`.
            for (i, value) in row.into_iter().flatten().enumerate() {
                let Some(value) = value.as_str() else { continue };
                let number = (i + 1).to_string();
                if let Some(j) = placeholders.iter().position(|p| *p == number) {
                    values[j] = value.to_string();
                }
            }
        }
    }
    values
}

fn header(component: &Value) -> TemplateHeader {
    let format = HeaderFormat::parse(string(component, "format").unwrap_or("TEXT"));
    let text = string(component, "text").map(str::to_string);
    let placeholders = text.as_deref().map(placeholders_in).unwrap_or_default();
    let example = component.get("example");
    let first = |key: &str| {
        example
            .and_then(|e| e.get(key))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                // `header_text_named_params: [{"param_name", "example"}]`.
                Value::Object(_) => string(v, "example").map(str::to_string),
                _ => None,
            })
    };
    let example = if format.is_media() {
        first("header_handle").or_else(|| first("header_url"))
    } else {
        first("header_text").or_else(|| first("header_text_named_params"))
    };
    TemplateHeader {
        format,
        text,
        placeholders,
        example,
    }
}

impl ProviderTemplate {
    /// Reads one of Meta's template objects.
    pub fn from_meta(object: &Value) -> Result<Self, TemplateSyncError> {
        if !object.is_object() {
            return Err(TemplateSyncError::NotAnObject);
        }
        let name = string(object, "name").ok_or(TemplateSyncError::Missing("name"))?;
        let language = string(object, "language").ok_or(TemplateSyncError::Missing("language"))?;
        let provider_status = string(object, "status").unwrap_or_default().to_ascii_uppercase();
        let components: &[Value] = object
            .get("components")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let of_type = |t: &str| {
            components
                .iter()
                .find(|c| string(c, "type").is_some_and(|ct| ct.eq_ignore_ascii_case(t)))
        };
        let body_component = of_type("BODY");
        let body = body_component.and_then(|c| string(c, "text")).map(str::to_string);
        let raw = body.as_deref().map(placeholders_in).unwrap_or_default();
        let parameter_format = match string(object, "parameter_format")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("NAMED") => ParameterFormat::Named,
            Some("POSITIONAL") => ParameterFormat::Positional,
            // Not given: named as soon as one placeholder is not a number.
            _ if raw.iter().any(|p| !is_positional(p)) => ParameterFormat::Named,
            _ => ParameterFormat::Positional,
        };
        let placeholders = in_parameter_order(raw, parameter_format);
        let body_examples = body_examples(
            body_component.and_then(|c| c.get("example")),
            &placeholders,
            parameter_format,
        );
        let quality = match object.get("quality_score") {
            Some(Value::Object(q)) => q
                .get("score")
                .and_then(Value::as_str)
                .map(TemplateQuality::parse_meta)
                .unwrap_or(TemplateQuality::Unknown),
            Some(Value::String(s)) => TemplateQuality::parse_meta(s),
            _ => TemplateQuality::Unknown,
        };
        Ok(ProviderTemplate {
            id: id_text(object.get("id")),
            name: name.to_string(),
            language: language.to_string(),
            category: string(object, "category").and_then(TemplateCategory::parse_meta),
            status: TemplateStatus::parse_meta(&provider_status),
            provider_status,
            quality,
            parameter_format,
            header: of_type("HEADER").map(header),
            body,
            placeholders,
            body_examples,
            ttl_seconds: object.get("message_send_ttl_seconds").and_then(Value::as_i64),
            rejected_reason: string(object, "rejected_reason")
                .filter(|r| !r.eq_ignore_ascii_case("NONE"))
                .map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_positional_template_with_an_image_header() {
        let t = ProviderTemplate::from_meta(&json!({
            "name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
            "id": "1689556908129832", "quality_score": {"score": "GREEN", "date": 1712830463},
            "components": [
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb"]}},
                {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{3}}. Thanks, {{1}}!",
                 "example": {"body_text": [["Asha", "ORD-9271", "today"]]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]}
            ]
        }))
        .unwrap();
        assert_eq!(t.id.as_deref(), Some("1689556908129832"));
        assert_eq!((t.name.as_str(), t.language.as_str()), ("order_update", "en_US"));
        assert_eq!(t.category, Some(TemplateCategory::Utility));
        assert_eq!(
            (t.status, t.provider_status.as_str()),
            (Some(TemplateStatus::Approved), "APPROVED")
        );
        assert_eq!(t.quality, TemplateQuality::Green);
        assert_eq!(t.parameter_format, ParameterFormat::Positional);
        assert_eq!(t.placeholders, ["1", "2", "3"], "each once, in number order");
        assert_eq!(t.body_examples, ["Asha", "ORD-9271", "today"]);
        let h = t.header.unwrap();
        assert_eq!(h.format, HeaderFormat::Image);
        assert!(h.format.is_media());
        assert_eq!(h.example.as_deref(), Some("4::aW1hZ2UvanBlZw==:ARb"));
        assert_eq!(t.ttl_seconds, None);
    }

    #[test]
    fn reads_a_named_template_with_a_text_header() {
        let t = ProviderTemplate::from_meta(&json!({
            "name": "cambio_estado", "language": "es_MX", "status": "PAUSED", "category": "MARKETING",
            "parameter_format": "NAMED", "message_send_ttl_seconds": 43200, "rejected_reason": "NONE",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hola {{cliente}}",
                 "example": {"header_text_named_params": [{"param_name": "cliente", "example": "Juan"}]}},
                {"type": "BODY", "text": "Tu orden {{orden_numero}} cambió a {{nuevo_estado}}, {{ cliente }}.",
                 "example": {"body_text_named_params": [
                    {"param_name": "nuevo_estado", "example": "En Proceso"},
                    {"param_name": "orden_numero", "example": "#123"}]}}
            ]
        }))
        .unwrap();
        assert_eq!(t.parameter_format, ParameterFormat::Named);
        assert_eq!(
            t.placeholders,
            ["orden_numero", "nuevo_estado", "cliente"],
            "order of appearance"
        );
        assert_eq!(t.body_examples, ["#123", "En Proceso", ""]);
        assert_eq!(
            (t.status, t.quality),
            (Some(TemplateStatus::Paused), TemplateQuality::Unknown)
        );
        assert_eq!(t.ttl_seconds, Some(43200));
        assert_eq!(t.rejected_reason, None, "NONE is no reason");
        let h = t.header.unwrap();
        assert_eq!(
            (h.format, h.text.as_deref()),
            (HeaderFormat::Text, Some("Hola {{cliente}}"))
        );
        assert_eq!(
            (h.placeholders.as_slice(), h.example.as_deref()),
            (&["cliente".to_string()][..], Some("Juan"))
        );
    }

    #[test]
    fn tolerates_odd_fields_and_refuses_only_nameless_ones() {
        let t = ProviderTemplate::from_meta(&json!({
            "name": "x", "language": "es", "status": "LIMIT_EXCEEDED", "category": "NEWSLETTER",
            "quality_score": "yellow", "components": {"not": "an array"}, "id": 42,
            "message_send_ttl_seconds": "soon", "rejected_reason": "PROMOTIONAL"
        }))
        .unwrap();
        assert_eq!((t.category, t.status), (None, None));
        assert_eq!(t.provider_status, "LIMIT_EXCEEDED");
        assert_eq!(t.quality, TemplateQuality::Yellow);
        assert_eq!((t.body, t.header), (None, None));
        assert!(t.placeholders.is_empty());
        assert_eq!(t.id.as_deref(), Some("42"));
        assert_eq!(t.ttl_seconds, None);
        assert_eq!(t.rejected_reason.as_deref(), Some("PROMOTIONAL"));

        // Unnamed format, but a placeholder that is not a number: named.
        let t = ProviderTemplate::from_meta(&json!({"name": "y", "language": "en",
            "components": [{"type": "body", "text": "Hi {{name}} {{2}} {{unclosed"}]}))
        .unwrap();
        assert_eq!(t.parameter_format, ParameterFormat::Named);
        assert_eq!(t.placeholders, ["name", "2"]);

        assert_eq!(
            ProviderTemplate::from_meta(&json!([])),
            Err(TemplateSyncError::NotAnObject)
        );
        assert_eq!(
            ProviderTemplate::from_meta(&json!({"language": "es"})),
            Err(TemplateSyncError::Missing("name"))
        );
        assert_eq!(
            ProviderTemplate::from_meta(&json!({"name": "z", "language": ""})),
            Err(TemplateSyncError::Missing("language"))
        );
    }

    #[test]
    fn placeholders_can_be_renamed_into_pregon_fields() {
        let fields = ["nombre", "monto"];
        let body = rewrite_placeholders("Hola {{1}}, debes {{ 2 }}. {{1}}: {{3}} {{sin cerrar", |p| {
            p.parse::<usize>()
                .ok()
                .and_then(|n| fields.get(n - 1))
                .map_or(p.to_string(), |f| f.to_string())
        });
        assert_eq!(body, "Hola {{nombre}}, debes {{monto}}. {{nombre}}: {{3}} {{sin cerrar");
    }
}
