//! The console's two languages: Spanish first, English second.
//!
//! - The messages are Fluent catalogs, `crates/pregon/locales/{es,en}/*.ftl`, compiled into
//!   the binary by `fluent-templates`. Templates never hold UI text: they ask [`Lang::t`]
//!   and its siblings for it by key. A unit test checks that both languages have the same
//!   keys (and attributes), so a key added to one and forgotten in the other fails CI.
//! - A request's language ([`Lang`] is an axum extractor) is, in order: `?lang=es|en`; the
//!   `pregon_lang` cookie (set when `?lang=` is given, by [`remember`]); the best match in
//!   `Accept-Language`, q-values honoured and regions ignored (`es-EC` is `es`); Spanish.
//! - Numbers and dates are formatted here, not by Fluent (whose `NUMBER()` is not
//!   localised): `1.234,5` and `1 dic 2026 14:05` in Spanish, `1,234.5` and
//!   `Dec 1, 2026 2:05 PM` in English. Month abbreviations come from the catalogs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Datelike, TimeZone, Timelike};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "es",
        // Fluent wraps every placeable in Unicode bidi isolation marks by default; both
        // our languages are left-to-right, and the marks would end up in copied text.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The name of the cookie that remembers a language chosen with `?lang=`.
pub const COOKIE_NAME: &str = "pregon_lang";

/// One of the console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Spanish: the default, and the language of the businesses pregon replaces.
    #[default]
    Es,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the switcher shows them.
    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    /// The BCP 47 code, for `<html lang>`, `hreflang` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// A language tag's language, region and script ignored: `es-EC` and `ES` are Spanish.
    /// `None` for a language the console does not speak.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("es") {
            Some(Lang::Es)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The best language in an `Accept-Language` header: the highest q-value among the
    /// languages we speak, the first listed on a tie; `*` stands for the default. `None`
    /// when nothing acceptable is spoken here.
    pub fn negotiate(accept_language: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for range in accept_language.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let mut q = 1.0_f32;
            for param in parts {
                if let Some(value) = param
                    .trim()
                    .strip_prefix("q=")
                    .or_else(|| param.trim().strip_prefix("Q="))
                {
                    match value.trim().parse::<f32>() {
                        Ok(v) if (0.0..=1.0).contains(&v) => q = v,
                        _ => q = 0.0,
                    }
                }
            }
            if q <= 0.0 {
                continue;
            }
            let lang = if tag == "*" {
                Some(Lang::default())
            } else {
                Lang::parse(tag)
            };
            if let Some(lang) = lang {
                if best.is_none_or(|(_, top)| q > top) {
                    best = Some((lang, q));
                }
            }
        }
        best.map(|(lang, _)| lang)
    }

    /// The language of a request: `?lang=`, then the signed-in user's choice, then the
    /// cookie, then `Accept-Language`, then Spanish.
    pub fn of_request(parts: &Parts) -> Lang {
        query_lang(parts)
            .or_else(|| parts.extensions.get::<super::access::UserLang>().map(|u| u.0))
            .or_else(|| cookie_lang(parts))
            .or_else(|| {
                parts
                    .headers
                    .get(ACCEPT_LANGUAGE)
                    .and_then(|h| h.to_str().ok())
                    .and_then(Lang::negotiate)
            })
            .unwrap_or_default()
    }

    fn langid(self) -> &'static LanguageIdentifier {
        static ES: LanguageIdentifier = fluent_templates::langid!("es");
        static EN: LanguageIdentifier = fluent_templates::langid!("en");
        match self {
            Lang::Es => &ES,
            Lang::En => &EN,
        }
    }

    /// The message `key`. A key missing from the catalogs is logged and shown as
    /// `⟦key⟧`, which the page tests look for.
    pub fn t(self, key: &str) -> String {
        self.lookup(key, None)
    }

    /// The message `key` with text arguments: `lang.t_args("account-tenant", [("tenant",
    /// name)])`. Format numbers and dates with [`Lang::number`] and [`Lang::datetime`]
    /// first; Fluent does not localise them.
    pub fn t_args<'a>(self, key: &str, args: impl AsRef<[(&'a str, &'a str)]>) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .as_ref()
            .iter()
            .map(|(name, value)| (Cow::Owned((*name).to_string()), FluentValue::from(value.to_string())))
            .collect();
        self.lookup(key, Some(&args))
    }

    /// The message `key` for a count: `$count` is the number, for the plural selectors
    /// (`[one]`, `*[other]`), and `$n` the same number formatted for reading.
    pub fn t_count(self, key: &str, count: i64) -> String {
        let mut args: HashMap<Cow<'static, str>, FluentValue> = HashMap::new();
        args.insert(Cow::Borrowed("count"), FluentValue::from(count));
        args.insert(Cow::Borrowed("n"), FluentValue::from(self.integer(count)));
        self.lookup(key, Some(&args))
    }

    fn lookup(self, key: &str, args: Option<&HashMap<Cow<'static, str>, FluentValue>>) -> String {
        match LOCALES.try_lookup_complete(self.langid(), key, args) {
            Some(text) => text,
            None => {
                tracing::warn!(key, lang = self.code(), "console message missing from the catalogs");
                format!("⟦{key}⟧")
            }
        }
    }

    /// Separators: (thousands, decimal).
    fn separators(self) -> (char, char) {
        match self {
            Lang::Es => ('.', ','),
            Lang::En => (',', '.'),
        }
    }

    /// A length of time for reading: `45 s`, `12 min`, `1 h 5 min`, `2 d 3 h` (the same
    /// abbreviations in both languages). Negative counts as zero.
    pub fn duration(self, seconds: i64) -> String {
        let s = seconds.max(0);
        let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
        match (d, h, m) {
            (0, 0, 0) => format!("{s} s"),
            (0, 0, m) => format!("{m} min"),
            (0, h, 0) => format!("{h} h"),
            (0, h, m) => format!("{h} h {m} min"),
            (d, 0, _) => format!("{} d", self.integer(d)),
            (d, h, _) => format!("{} d {h} h", self.integer(d)),
        }
    }

    /// A whole number with thousands grouped: `1.234.567` / `1,234,567`.
    pub fn integer(self, value: i64) -> String {
        let digits = value.unsigned_abs().to_string();
        let grouped = group(&digits, self.separators().0);
        if value < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    }

    /// A number with `decimals` places: `1.234,5` / `1,234.5`. Not finite: `—`.
    pub fn number(self, value: f64, decimals: usize) -> String {
        if !value.is_finite() {
            return "—".to_string();
        }
        let (thousands, decimal) = self.separators();
        let text = format!("{:.*}", decimals, value.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let mut out = String::new();
        // A value that rounds to zero is shown without a sign.
        if value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
            out.push('-');
        }
        out.push_str(&group(whole, thousands));
        if !fraction.is_empty() {
            out.push(decimal);
            out.push_str(fraction);
        }
        out
    }

    /// A percentage of 0–100 with `decimals` places: `43,3 %` (a no-break space, as
    /// Spanish writes it) / `43.3%`.
    pub fn percent(self, value: f64, decimals: usize) -> String {
        let number = self.number(value, decimals);
        match self {
            Lang::Es => format!("{number}\u{a0}%"),
            Lang::En => format!("{number}%"),
        }
    }

    /// A date: `1 dic 2026` / `Dec 1, 2026`, in the time zone `at` carries.
    pub fn date<Tz: TimeZone>(self, at: &DateTime<Tz>) -> String {
        let month = self.t(&format!("month-{}", at.month()));
        match self {
            Lang::Es => format!("{} {month} {}", at.day(), at.year()),
            Lang::En => format!("{month} {}, {}", at.day(), at.year()),
        }
    }

    /// A date and time to the minute: `1 dic 2026 14:05` / `Dec 1, 2026 2:05 PM`, in the
    /// time zone `at` carries.
    pub fn datetime<Tz: TimeZone>(self, at: &DateTime<Tz>) -> String {
        let date = self.date(at);
        match self {
            Lang::Es => format!("{date} {:02}:{:02}", at.hour(), at.minute()),
            Lang::En => {
                let (pm, hour) = at.hour12();
                let half = if pm { "PM" } else { "AM" };
                format!("{date} {hour}:{:02} {half}", at.minute())
            }
        }
    }
}

/// Puts `separator` between every three digits of `digits`, from the right.
fn group(digits: &str, separator: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

fn query_lang(parts: &Parts) -> Option<Lang> {
    query_lang_of(&parts.uri)
}

/// The language a URI's `?lang=` asks for.
pub fn query_lang_of(uri: &axum::http::Uri) -> Option<Lang> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "lang")
        .and_then(|(_, value)| Lang::parse(&value))
}

fn cookie_lang(parts: &Parts) -> Option<Lang> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| Lang::parse(value))
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of_request(parts))
    }
}

/// Middleware: when a request chooses a language with `?lang=`, the answer sets the
/// `pregon_lang` cookie, so the next pages keep it. (Remembering it per user is for the
/// sessions, once they exist.)
pub async fn remember(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let chosen = query_lang(&parts);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(lang) = chosen {
        let cookie = format!("{COOKIE_NAME}={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod duration_tests {
    use super::Lang;

    #[test]
    fn durations_read_in_the_largest_two_units() {
        assert_eq!(Lang::Es.duration(45), "45 s");
        assert_eq!(Lang::Es.duration(720), "12 min");
        assert_eq!(Lang::En.duration(3_900), "1 h 5 min");
        assert_eq!(Lang::En.duration(7_200), "2 h");
        assert_eq!(Lang::Es.duration(2 * 86_400 + 3 * 3_600 + 59), "2 d 3 h");
        assert_eq!(Lang::Es.duration(1_500 * 86_400), "1.500 d");
        assert_eq!(Lang::En.duration(-5), "0 s");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use axum::http::Request;
    use chrono::{FixedOffset, Utc};
    use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn accept_language_is_negotiated_by_q_value() {
        assert_eq!(Lang::negotiate("es-EC,es;q=0.9,en;q=0.8"), Some(Lang::Es));
        assert_eq!(Lang::negotiate("en-US,en;q=0.9,es;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::negotiate("fr-FR, es;q=0.5, en;q=0.7"), Some(Lang::En));
        assert_eq!(Lang::negotiate("en;q=0.4, es-MX;q=0.6"), Some(Lang::Es));
        assert_eq!(Lang::negotiate("EN"), Some(Lang::En));
        assert_eq!(Lang::negotiate("en;q=0, es;q=0.1"), Some(Lang::Es));
        assert_eq!(Lang::negotiate("fr, de;q=0.9"), None);
        assert_eq!(Lang::negotiate("fr, *;q=0.1"), Some(Lang::Es));
        assert_eq!(Lang::negotiate("en;q=abc"), None);
        assert_eq!(Lang::negotiate(""), None);
        // A tie goes to the first listed.
        assert_eq!(Lang::negotiate("en, es"), Some(Lang::En));
    }

    #[test]
    fn query_then_cookie_then_header_then_spanish() {
        assert_eq!(Lang::of_request(&parts("/", &[])), Lang::Es);
        assert_eq!(Lang::of_request(&parts("/", &[("accept-language", "en-GB")])), Lang::En);
        assert_eq!(Lang::of_request(&parts("/", &[("accept-language", "de")])), Lang::Es);
        let cookie = [("accept-language", "en"), ("cookie", "a=b; pregon_lang=es; c=d")];
        assert_eq!(Lang::of_request(&parts("/", &cookie)), Lang::Es);
        assert_eq!(Lang::of_request(&parts("/?x=1&lang=en", &cookie)), Lang::En);
        // An unknown value is ignored, not an error.
        assert_eq!(Lang::of_request(&parts("/?lang=fr", &cookie)), Lang::Es);
        let bad_cookie = [("accept-language", "en"), ("cookie", "pregon_lang=xx")];
        assert_eq!(Lang::of_request(&parts("/", &bad_cookie)), Lang::En);
    }

    #[test]
    fn messages_in_both_languages_with_arguments_and_plurals() {
        assert_eq!(Lang::Es.t("nav-campaigns"), "Campañas");
        assert_eq!(Lang::En.t("nav-campaigns"), "Campaigns");
        assert_eq!(
            Lang::Es.t_args("account-tenant", [("tenant", "Ferretería <b>")]),
            "Empresa: Ferretería <b>"
        );
        assert_eq!(Lang::En.t_count("campaigns-count", 1), "1 campaign");
        assert_eq!(Lang::En.t_count("campaigns-count", 1234), "1,234 campaigns");
        assert_eq!(Lang::Es.t_count("campaigns-count", 1234), "1.234 campañas");
        assert_eq!(Lang::Es.t("no-such-key"), "⟦no-such-key⟧");
    }

    #[test]
    fn numbers_per_language() {
        assert_eq!(Lang::Es.number(1234.5, 1), "1.234,5");
        assert_eq!(Lang::En.number(1234.5, 1), "1,234.5");
        assert_eq!(Lang::Es.number(1_234_567.891, 2), "1.234.567,89");
        assert_eq!(Lang::En.number(-1234.0, 0), "-1,234");
        assert_eq!(Lang::En.number(-0.04, 1), "0.0");
        assert_eq!(Lang::En.number(999.96, 1), "1,000.0");
        assert_eq!(Lang::Es.number(f64::NAN, 1), "—");
        assert_eq!(Lang::Es.integer(0), "0");
        assert_eq!(Lang::Es.integer(100), "100");
        assert_eq!(Lang::Es.integer(1000), "1.000");
        assert_eq!(Lang::En.integer(-1_000_000), "-1,000,000");
        assert_eq!(Lang::En.integer(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(Lang::Es.percent(43.26, 1), "43,3\u{a0}%");
        assert_eq!(Lang::En.percent(100.0, 0), "100%");
    }

    #[test]
    fn dates_per_language() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 14, 5, 0).single().expect("a date");
        assert_eq!(Lang::Es.datetime(&at), "1 dic 2026 14:05");
        assert_eq!(Lang::En.datetime(&at), "Dec 1, 2026 2:05 PM");
        assert_eq!(Lang::Es.date(&at), "1 dic 2026");
        assert_eq!(Lang::En.date(&at), "Dec 1, 2026");
        let morning = Utc.with_ymd_and_hms(2026, 9, 30, 0, 7, 0).single().expect("a date");
        assert_eq!(Lang::Es.datetime(&morning), "30 sept 2026 00:07");
        assert_eq!(Lang::En.datetime(&morning), "Sep 30, 2026 12:07 AM");
        // The zone the caller chose is the one shown.
        let quito = FixedOffset::west_opt(5 * 3600).expect("an offset");
        assert_eq!(Lang::Es.datetime(&at.with_timezone(&quito)), "1 dic 2026 09:05");
    }

    /// Every `.ftl` file of a language: each message and term (`-term`), and each of their
    /// attributes (`key.attribute`), with the variables it uses.
    fn catalog(lang: &str) -> BTreeMap<String, BTreeSet<String>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales").join(lang);
        let mut keys = BTreeMap::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "ftl"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no catalogs in {}", dir.display());
        for file in files {
            let name = file.file_name().expect("a file name").to_string_lossy().to_string();
            keys.insert(format!("file {name}"), BTreeSet::new());
            let source = std::fs::read_to_string(&file).expect("a readable catalog");
            let resource = fluent_syntax::parser::parse(source.as_str())
                .unwrap_or_else(|(_, errors)| panic!("{}: {errors:?}", file.display()));
            for entry in resource.body {
                let (id, value, attributes) = match entry {
                    Entry::Message(m) => (m.id.name.to_string(), m.value, m.attributes),
                    Entry::Term(t) => (format!("-{}", t.id.name), Some(t.value), t.attributes),
                    _ => continue,
                };
                let mut variables = BTreeSet::new();
                if let Some(pattern) = &value {
                    pattern_variables(pattern, &mut variables);
                }
                assert!(
                    keys.insert(id.clone(), variables).is_none(),
                    "{name}: {id} is defined twice in {lang}"
                );
                for a in attributes {
                    let mut variables = BTreeSet::new();
                    pattern_variables(&a.value, &mut variables);
                    keys.insert(format!("{id}.{}", a.id.name), variables);
                }
            }
        }
        keys
    }

    fn pattern_variables(pattern: &Pattern<&str>, out: &mut BTreeSet<String>) {
        for element in &pattern.elements {
            if let PatternElement::Placeable { expression } = element {
                expression_variables(expression, out);
            }
        }
    }

    fn expression_variables(expression: &Expression<&str>, out: &mut BTreeSet<String>) {
        match expression {
            Expression::Select { selector, variants } => {
                inline_variables(selector, out);
                for variant in variants {
                    pattern_variables(&variant.value, out);
                }
            }
            Expression::Inline(inline) => inline_variables(inline, out),
        }
    }

    fn inline_variables(inline: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
        match inline {
            InlineExpression::VariableReference { id } => {
                out.insert(id.name.to_string());
            }
            InlineExpression::FunctionReference { arguments, .. } => {
                for argument in &arguments.positional {
                    inline_variables(argument, out);
                }
                for argument in &arguments.named {
                    inline_variables(&argument.value, out);
                }
            }
            InlineExpression::Placeable { expression } => expression_variables(expression, out),
            _ => {}
        }
    }

    #[test]
    fn every_key_in_spanish_is_in_english_and_back() {
        let es = catalog("es");
        let en = catalog("en");
        let only_es: Vec<_> = es.keys().filter(|k| !en.contains_key(*k)).collect();
        let only_en: Vec<_> = en.keys().filter(|k| !es.contains_key(*k)).collect();
        assert!(only_es.is_empty(), "in es but not en: {only_es:?}");
        assert!(only_en.is_empty(), "in en but not es: {only_en:?}");
        for (key, variables) in &es {
            assert_eq!(Some(variables), en.get(key), "{key} takes other variables in es and en");
        }
        // And the compiled-in catalogs resolve every message, in both languages, given its
        // variables.
        for (key, variables) in es.iter().filter(|(k, _)| !k.starts_with("file ") && !k.contains('.')) {
            if key.starts_with('-') {
                continue;
            }
            let args: HashMap<Cow<'static, str>, FluentValue> = variables
                .iter()
                .map(|v| (Cow::Owned(v.clone()), FluentValue::from(1)))
                .collect();
            for lang in Lang::ALL {
                let text = LOCALES.try_lookup_complete(lang.langid(), key, Some(&args));
                assert!(
                    text.is_some_and(|t| !t.trim().is_empty()),
                    "{key} does not resolve in {}",
                    lang.code()
                );
            }
        }
    }
}
