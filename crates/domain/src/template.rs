//! Message templates: a body with `{{variable}}` placeholders and an optional header image.
//!
//! The placeholders, in the order they appear, are the body parameters a provider receives
//! (`{{1}}`, `{{2}}`, … of the approved WhatsApp template). A placeholder names a contact
//! field; a contact that lacks one (or has it empty) cannot be sent and is skipped at import.

use std::collections::BTreeMap;

/// Contact fields by name: what fills a template's placeholders.
pub type Variables = BTreeMap<String, String>;

/// Longest body we accept: Meta allows 1,024 characters of body text per template.
pub const MAX_BODY_CHARS: usize = 4096;

/// A parsed template: literal text and placeholders, ready to render without re-parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    body: Vec<Segment>,
    header_image: Option<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var(String),
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the body is empty")]
    EmptyBody,
    #[error("the body is longer than {MAX_BODY_CHARS} characters")]
    BodyTooLong,
    #[error("unclosed placeholder: a `{{{{` without its `}}}}`")]
    Unclosed,
    #[error("empty placeholder `{{{{}}}}`")]
    EmptyPlaceholder,
    #[error("placeholder name {0:?} may only contain letters, digits, `_`, `-` and `.`")]
    BadName(String),
}

/// A template rendered for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The full body text, placeholders filled.
    pub text: String,
    /// The values of the body placeholders, in order: the provider's body parameters.
    pub body_parameters: Vec<String>,
    /// The header image URL, when the template has one.
    pub header_image: Option<String>,
}

impl Template {
    /// Parses a body and an optional header image (a URL or a `{{variable}}`).
    pub fn parse(body: &str, header_image: Option<&str>) -> Result<Self, TemplateError> {
        if body.trim().is_empty() {
            return Err(TemplateError::EmptyBody);
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(TemplateError::BodyTooLong);
        }
        let header_image = match header_image.map(str::trim) {
            None | Some("") => None,
            Some(h) => Some(parse_segments(h)?),
        };
        Ok(Template {
            body: parse_segments(body)?,
            header_image,
        })
    }

    /// Every distinct variable the template needs, body first, in order of appearance.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let header = self.header_image.iter().flatten();
        for seg in self.body.iter().chain(header) {
            if let Segment::Var(name) = seg {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// The first variable the contact lacks (absent or blank), if any.
    pub fn missing_variable<'a>(&'a self, vars: &Variables) -> Option<&'a str> {
        self.missing_in(|name| vars.get(name).map(String::as_str))
    }

    /// [`Template::missing_variable`] over any lookup of a contact's fields.
    pub fn missing_in<'a, 'v>(&'a self, get: impl Fn(&str) -> Option<&'v str>) -> Option<&'a str> {
        let header = self.header_image.iter().flatten();
        self.body.iter().chain(header).find_map(|seg| match seg {
            Segment::Var(name) if get(name).is_none_or(|v| v.trim().is_empty()) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Renders for one contact; a missing variable renders as empty (check first).
    pub fn render(&self, vars: &Variables) -> Rendered {
        let mut text = String::new();
        let mut body_parameters = Vec::new();
        for seg in &self.body {
            match seg {
                Segment::Text(t) => text.push_str(t),
                Segment::Var(name) => {
                    let value = vars.get(name).map(|v| v.trim()).unwrap_or("");
                    text.push_str(value);
                    body_parameters.push(value.to_string());
                }
            }
        }
        let header_image = self.header_image.as_ref().map(|segs| {
            segs.iter()
                .map(|s| match s {
                    Segment::Text(t) => t.as_str(),
                    Segment::Var(name) => vars.get(name).map(|v| v.trim()).unwrap_or(""),
                })
                .collect()
        });
        Rendered {
            text,
            body_parameters,
            header_image,
        }
    }
}

fn parse_segments(input: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = input;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segments.push(Segment::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(TemplateError::EmptyPlaceholder);
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(TemplateError::BadName(name.to_string()));
        }
        segments.push(Segment::Var(name.to_string()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_string()));
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn renders_body_parameters_in_placeholder_order() {
        let t = Template::parse("Hola {{nombre}}, tu factura de {{ monto }} vence el {{fecha}}.", None).unwrap();
        assert_eq!(t.variables(), vec!["nombre", "monto", "fecha"]);
        let r = t.render(&vars(&[("fecha", "5/1"), ("nombre", "Juan"), ("monto", "25.00 USD")]));
        assert_eq!(r.text, "Hola Juan, tu factura de 25.00 USD vence el 5/1.");
        assert_eq!(r.body_parameters, vec!["Juan", "25.00 USD", "5/1"]);
        assert_eq!(r.header_image, None);
    }

    #[test]
    fn header_image_can_be_a_variable_or_a_literal() {
        let t = Template::parse("Hi {{n}}", Some("{{url_imagen}}")).unwrap();
        assert_eq!(t.variables(), vec!["n", "url_imagen"]);
        let r = t.render(&vars(&[("n", "A"), ("url_imagen", "https://x/a.jpg")]));
        assert_eq!(r.header_image.as_deref(), Some("https://x/a.jpg"));
        let lit = Template::parse("Hi", Some("https://cdn/a.jpg")).unwrap();
        assert_eq!(
            lit.render(&Variables::new()).header_image.as_deref(),
            Some("https://cdn/a.jpg")
        );
    }

    #[test]
    fn repeated_placeholders_are_one_variable_but_two_parameters() {
        let t = Template::parse("{{a}} and {{a}}", None).unwrap();
        assert_eq!(t.variables(), vec!["a"]);
        assert_eq!(t.render(&vars(&[("a", "x")])).body_parameters, vec!["x", "x"]);
    }

    #[test]
    fn missing_or_blank_variables_are_found() {
        let t = Template::parse("{{a}} {{b}}", Some("{{img}}")).unwrap();
        assert_eq!(t.missing_variable(&vars(&[("a", "1"), ("b", "2"), ("img", "u")])), None);
        assert_eq!(
            t.missing_variable(&vars(&[("a", "1"), ("b", "  "), ("img", "u")])),
            Some("b")
        );
        assert_eq!(t.missing_variable(&vars(&[("a", "1"), ("b", "2")])), Some("img"));
    }

    #[test]
    fn malformed_templates_are_rejected() {
        assert_eq!(Template::parse("  ", None), Err(TemplateError::EmptyBody));
        assert_eq!(Template::parse("Hi {{name", None), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("Hi {{ }}", None), Err(TemplateError::EmptyPlaceholder));
        assert!(matches!(
            Template::parse("Hi {{a b}}", None),
            Err(TemplateError::BadName(_))
        ));
        assert_eq!(
            Template::parse(&"x".repeat(MAX_BODY_CHARS + 1), None),
            Err(TemplateError::BodyTooLong)
        );
    }

    #[test]
    fn text_without_placeholders_renders_as_is() {
        let t = Template::parse("Plain text }} with braces", None).unwrap();
        assert!(t.variables().is_empty());
        assert_eq!(t.render(&Variables::new()).text, "Plain text }} with braces");
    }
}
