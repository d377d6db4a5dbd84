//! Contacts into messages: CSV or JSON in, one message per contact out, each either queued
//! or skipped with its reason, and the report the API answers with.
//!
//! CSV: a header row (or none, [`CsvOptions::header`]), `,`, `;` or a tab (whichever the
//! first line uses, or as given), quoted fields, UTF-8 with or without a BOM. The phone is
//! in `phone`, `numero`, `telefono`, `to` or `number` (any case, accents optional) unless a
//! column is named. Every other field is a template variable; a field mapping feeds a
//! variable from a column named otherwise.
//! Rows are numbered as a spreadsheet shows them (the header is row 1); JSON contacts by
//! their position in the list, from 1.
//!
//! A contact may name the user by a business-scoped user ID (`user_id`, a column or a JSON
//! key; `field_mapping` may map it) instead of, or beside, a phone. Dedupe and opt-outs work
//! on the recipient's identity: the phone when given, else the BSUID.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use pregon_domain::{BusinessUserId, PhoneNumber, Region, SkipReason, Template};
use pregon_store::NewMessage;
use serde::Serialize;

/// Column names recognised as the phone, after lower-casing and dropping accents.
pub const PHONE_COLUMNS: &[&str] = &[
    "phone", "numero", "telefono", "to", "number", "celular", "movil", "whatsapp",
];

/// Column names recognised as the business-scoped user ID (after lower-casing).
pub const USER_ID_COLUMNS: &[&str] = &["user_id", "bsuid"];

/// How many row errors the report lists.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// One contact as received.
#[derive(Debug, Clone)]
pub struct Contact {
    pub row: usize,
    pub phone: Option<String>,
    /// The business-scoped user ID as given (checked by [`classify`]).
    pub user_id: Option<String>,
    pub fields: Fields,
}

/// A contact's fields (the template's variables), sorted by name. Names are shared between
/// the rows of one upload, and the list is as long as the row: a 100,000-row import holds
/// no per-row map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(Arc<str>, String)>);

impl Fields {
    /// From (name, value) pairs; a repeated name keeps its last value.
    pub fn from_pairs(mut pairs: Vec<(Arc<str>, String)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.reverse();
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        pairs.reverse();
        pairs.shrink_to_fit();
        Fields(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields as the JSON object stored with the message.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::with_capacity(self.0.len());
        for (k, v) in &self.0 {
            map.insert(k.to_string(), serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// Why a whole upload was refused (nothing is created).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not UTF-8 text (line {line}); save it as UTF-8 CSV")]
    NotUtf8 { line: u64 },
    #[error("the file is empty: a header row and at least one contact are needed")]
    Empty,
    #[error("no phone column: name one of {expected} in the header, or pass phone_column (columns found: {found})")]
    NoPhoneColumn { expected: String, found: String },
    #[error("phone_column {0:?} is not in the header")]
    UnknownPhoneColumn(String),
    #[error("field_mapping: {key:?} names column {column:?}, which is not in the file (columns found: {found})")]
    UnknownColumn { key: String, column: String, found: String },
    #[error("malformed CSV at line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("contact {row} is not an object with a phone")]
    NotAnObject { row: usize },
    #[error("too many contacts: at most {max} per campaign")]
    TooMany { max: usize },
}

/// Skipped contacts by reason.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SkipCounts {
    pub invalid_phone: usize,
    pub duplicate: usize,
    pub opted_out: usize,
    pub missing_variable: usize,
    /// The campaign requires consent and the number has no opt-in. Reported only for
    /// campaigns that require consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_consent: Option<usize>,
}

/// One row that was not imported, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowError {
    pub row: usize,
    pub reason: String,
    /// Why, as a code: `invalid_phone`, `duplicate`, `opted_out`, `no_consent` or
    /// `missing_variable`.
    #[schema(value_type = String)]
    pub skip_reason: &'static str,
    /// The phone as the row gave it.
    pub phone: String,
    /// The business-scoped user ID as the row gave it, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ImportReport {
    pub accepted: usize,
    pub skipped: SkipCounts,
    /// The first 100 rows that were skipped.
    pub errors: Vec<RowError>,
    /// What the accepted (not skipped) recipients are estimated to cost, by the tenant's
    /// rate card; `null` when it has none.
    pub estimated_cost: Option<CostEstimate>,
}

/// An import's estimate: the sum over its accepted recipients of the rate for their phone's
/// country and the template's category (summed exactly, in millionths).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CostEstimate {
    /// ISO 4217.
    pub currency: String,
    /// In units of `currency`, without the unpriced recipients.
    pub amount: f64,
    /// Accepted recipients with no rate in the card (neither their country's nor `*`): not
    /// in `amount`, rather than counted as free.
    pub unpriced: u64,
}

impl CostEstimate {
    pub fn new(currency: &pregon_domain::Currency, sum: pregon_domain::CostSum) -> Self {
        CostEstimate {
            currency: currency.to_string(),
            amount: sum.amount.as_units(),
            unpriced: sum.unpriced,
        }
    }
}

/// Lower-case without accents, for matching column names.
fn fold(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' | 'Á' | 'À' | 'Ä' | 'Â' => 'a',
            'é' | 'è' | 'ë' | 'ê' | 'É' | 'È' | 'Ë' | 'Ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' | 'Í' | 'Ì' | 'Ï' | 'Î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'Ó' | 'Ò' | 'Ö' | 'Ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' | 'Ú' | 'Ù' | 'Ü' | 'Û' => 'u',
            'ñ' | 'Ñ' => 'n',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn find_phone_column<'a>(
    names: impl Iterator<Item = &'a str> + Clone,
    wanted: Option<&str>,
) -> Result<Option<String>, ImportError> {
    if let Some(w) = wanted {
        return names
            .clone()
            .find(|n| *n == w || fold(n) == fold(w))
            .map(|n| Some(n.to_string()))
            .ok_or_else(|| ImportError::UnknownPhoneColumn(w.to_string()));
    }
    Ok(names
        .clone()
        .find(|n| PHONE_COLUMNS.contains(&fold(n).as_str()))
        .map(str::to_string))
}

/// How a CSV upload is read, beyond its bytes.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// The phone's column, when it is not one of [`PHONE_COLUMNS`].
    pub phone_column: Option<String>,
    /// `phone` → the phone's column, and each template variable → the column that feeds
    /// it (the other columns still come as fields under their own names).
    pub field_mapping: Option<BTreeMap<String, String>>,
    /// `,`, `;` or a tab; `None`: whichever of them the first line uses most.
    pub separator: Option<u8>,
    /// Whether the first line names the columns (default). Without one the columns are
    /// named by their position, `1`, `2`, …, and rows are numbered from 1.
    pub header: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            phone_column: None,
            field_mapping: None,
            separator: None,
            header: true,
        }
    }
}

/// The column `wanted` names, matched exactly or without case and accents.
fn find_column(names: &[String], wanted: &str) -> Option<String> {
    names
        .iter()
        .find(|n| n.as_str() == wanted)
        .or_else(|| names.iter().find(|n| fold(n) == fold(wanted)))
        .cloned()
}

/// Reads contacts from CSV bytes.
pub fn contacts_from_csv(bytes: &[u8], phone_column: Option<&str>, max: usize) -> Result<Vec<Contact>, ImportError> {
    let options = CsvOptions {
        phone_column: phone_column.map(str::to_string),
        ..CsvOptions::default()
    };
    contacts_from_csv_with(bytes, &options, max)
}

/// Reads contacts from CSV bytes, as `options` say.
pub fn contacts_from_csv_with(bytes: &[u8], options: &CsvOptions, max: usize) -> Result<Vec<Contact>, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let header_end = bytes.iter().position(|b| *b == b'\n').unwrap_or(bytes.len());
    let header_line = &bytes[..header_end];
    if header_line.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ImportError::Empty);
    }
    let delimiter = options.separator.unwrap_or_else(|| detect_delimiter(header_line));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(options.header)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.headers().map_err(csv_error)?.clone();
    let names: Vec<String> = match options.header {
        true => headers.iter().map(|h| h.trim().to_string()).collect(),
        false => (1..=headers.len()).map(|i| i.to_string()).collect(),
    };
    // The mapping's columns, each checked against the header: (variable, column index).
    let mut mapped: Vec<(Arc<str>, usize)> = Vec::new();
    let mut phone_column = options.phone_column.clone();
    let mut user_id_column: Option<String> = None;
    for (key, column) in options.field_mapping.iter().flatten() {
        let Some(found) = find_column(&names, column) else {
            return Err(ImportError::UnknownColumn {
                key: key.clone(),
                column: column.clone(),
                found: names.join(", "),
            });
        };
        if key == "phone" {
            phone_column = Some(found);
        } else if key == "user_id" {
            user_id_column = Some(found);
        } else if let Some(index) = names.iter().position(|n| *n == found) {
            mapped.push((Arc::from(key.as_str()), index));
        }
    }
    let user_id_column = user_id_column.or_else(|| {
        names
            .iter()
            .find(|n| USER_ID_COLUMNS.contains(&fold(n).as_str()))
            .cloned()
    });
    let phone = find_phone_column(names.iter().map(String::as_str), phone_column.as_deref())?;
    // A file of BSUIDs alone needs no phone column.
    let Some(phone) = phone.or_else(|| user_id_column.as_ref().map(|_| String::new())) else {
        return Err(ImportError::NoPhoneColumn {
            expected: PHONE_COLUMNS[..5].join(", "),
            found: names.join(", "),
        });
    };
    let shared: Vec<Arc<str>> = names.iter().map(|n| Arc::from(n.as_str())).collect();
    let mut contacts = Vec::new();
    // Newlines counted so far, up to `counted_to`. The csv crate's own line numbers are off
    // after a blank line and in CRLF files, so rows are numbered by counting newlines.
    let (mut counted_to, mut line) = (0usize, 1usize);
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if contacts.len() == max {
            return Err(ImportError::TooMany { max });
        }
        let row = match record.position() {
            Some(p) => {
                let mut at = (p.byte() as usize).clamp(counted_to, bytes.len());
                // The position is just after the previous record: skip blank lines between.
                while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
                    at += 1;
                }
                line += bytes[counted_to..at].iter().filter(|b| **b == b'\n').count();
                counted_to = at;
                line
            }
            None => contacts.len() + 2,
        };
        let mut fields = Vec::with_capacity(shared.len() + mapped.len());
        let (mut phone_value, mut user_id) = (None, None);
        for ((name, shared_name), value) in names.iter().zip(&shared).zip(record.iter()) {
            if *name == phone && !phone.is_empty() {
                phone_value = Some(value.to_string());
            } else if Some(name) == user_id_column.as_ref() {
                user_id = Some(value.to_string()).filter(|v| !v.is_empty());
            } else if !name.is_empty() {
                fields.push((shared_name.clone(), value.to_string()));
            }
        }
        // Mapped variables come last: a repeated name keeps its last value.
        for (variable, index) in &mapped {
            if let Some(value) = record.get(*index) {
                fields.push((variable.clone(), value.to_string()));
            }
        }
        contacts.push(Contact {
            row,
            phone: phone_value,
            user_id,
            fields: Fields::from_pairs(fields),
        });
    }
    if contacts.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(contacts)
}

fn detect_delimiter(header: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut tabs, mut quoted) = (0, 0, 0, false);
    for b in header {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            b'\t' if !quoted => tabs += 1,
            _ => {}
        }
    }
    if tabs > commas && tabs > semicolons {
        b'\t'
    } else if semicolons > commas {
        b';'
    } else {
        b','
    }
}

fn csv_error(e: csv::Error) -> ImportError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => ImportError::NotUtf8 { line },
        _ => ImportError::Malformed {
            line,
            message: e.to_string(),
        },
    }
}

/// Reads contacts from JSON objects; values that are not strings are written as JSON text,
/// `null` counts as absent.
pub fn contacts_from_json(items: Vec<serde_json::Value>, max: usize) -> Result<Vec<Contact>, ImportError> {
    if items.len() > max {
        return Err(ImportError::TooMany { max });
    }
    let mut contacts = Vec::with_capacity(items.len());
    // Each field name once, shared by every contact that has it.
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let row = i + 1;
        let serde_json::Value::Object(map) = item else {
            return Err(ImportError::NotAnObject { row });
        };
        let phone_key = find_phone_column(map.keys().map(String::as_str), None)?;
        let mut fields = Vec::with_capacity(map.len());
        let (mut phone, mut user_id) = (None, None);
        for (key, value) in map {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if Some(&key) == phone_key.as_ref() {
                phone = Some(text);
            } else if key == "user_id" {
                user_id = Some(text);
            } else {
                let name = names.entry(key).or_insert_with_key(|k| Arc::from(k.as_str())).clone();
                fields.push((name, text));
            }
        }
        contacts.push(Contact {
            row,
            phone,
            user_id,
            fields: Fields::from_pairs(fields),
        });
    }
    if contacts.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(contacts)
}

/// Turns contacts into messages: each valid, unique, permitted and complete contact is
/// queued; every other one is kept as `skipped` with its reason.
pub fn classify(
    contacts: Vec<Contact>,
    template: &Template,
    region: Option<Region>,
    opted_out: &HashSet<String>,
) -> (Vec<NewMessage>, ImportReport) {
    classify_with_consent(contacts, template, region, opted_out, None)
}

/// [`classify`], for a campaign that may also require consent: with `opted_in`, a number
/// without an opt-in is skipped (`no_consent`).
pub fn classify_with_consent(
    contacts: Vec<Contact>,
    template: &Template,
    region: Option<Region>,
    opted_out: &HashSet<String>,
    opted_in: Option<&HashSet<String>>,
) -> (Vec<NewMessage>, ImportReport) {
    classify_reporting(contacts, template, region, opted_out, opted_in, MAX_REPORTED_ERRORS)
}

/// [`classify_with_consent`], listing up to `max_errors` skipped rows in the report (a dry
/// run lists them all).
pub fn classify_reporting(
    contacts: Vec<Contact>,
    template: &Template,
    region: Option<Region>,
    opted_out: &HashSet<String>,
    opted_in: Option<&HashSet<String>>,
    max_errors: usize,
) -> (Vec<NewMessage>, ImportReport) {
    let parsed = parse_phones(&contacts, region);
    let mut seen: HashSet<String> = HashSet::with_capacity(contacts.len());
    let mut report = ImportReport::default();
    if opted_in.is_some() {
        report.skipped.no_consent = Some(0);
    }
    let mut messages = Vec::with_capacity(contacts.len());
    for (contact, phone) in contacts.into_iter().zip(parsed) {
        let raw = contact.phone.clone().unwrap_or_default();
        let raw_user = contact.user_id.clone();
        let given_phone = !raw.trim().is_empty();
        let user_id = raw_user.as_deref().map(BusinessUserId::parse);
        // The identity the rest of the checks work on: the phone when given, else the BSUID.
        let identity = match (phone, &user_id) {
            (_, Some(Err(e))) => Err(format!("invalid user_id: {e}")),
            (Ok(p), u) => Ok((p.as_str().to_string(), u.clone().and_then(Result::ok))),
            (Err(_), Some(Ok(u))) if !given_phone => Ok((u.as_str().to_string(), Some(u.clone()))),
            (Err(e), _) => Err(format!("invalid phone {raw:?}: {e}")),
        };
        let (key, user_id, skip, reason) = match identity {
            Err(reason) => (raw.clone(), None, Some(SkipReason::InvalidPhone), reason),
            Ok((key, user_id)) => {
                let user = user_id.as_ref().map(|u| u.as_str().to_string());
                // A BSUID beside a phone counts as seen too: the same user twice is a duplicate.
                let fresh =
                    seen.insert(key.clone()) & user.as_ref().is_none_or(|u| *u == key || seen.insert(u.clone()));
                let opted = opted_out.contains(&key) || user.as_ref().is_some_and(|u| opted_out.contains(u));
                let (skip, reason) = if !fresh {
                    (
                        Some(SkipReason::Duplicate),
                        format!("duplicate of an earlier row ({key})"),
                    )
                } else if opted {
                    (Some(SkipReason::OptedOut), format!("{key} has opted out"))
                } else if opted_in.is_some_and(|consented| !consented.contains(&key)) {
                    (
                        Some(SkipReason::NoConsent),
                        format!("{key} has not opted in, and the campaign requires consent"),
                    )
                } else if let Some(var) = template.missing_in(|name| contact.fields.get(name)) {
                    (
                        Some(SkipReason::MissingVariable),
                        format!("missing template variable {var:?}"),
                    )
                } else {
                    (None, String::new())
                };
                (key, user, skip, reason)
            }
        };
        match skip {
            None => report.accepted += 1,
            Some(r) => {
                match r {
                    SkipReason::InvalidPhone => report.skipped.invalid_phone += 1,
                    SkipReason::Duplicate => report.skipped.duplicate += 1,
                    SkipReason::OptedOut => report.skipped.opted_out += 1,
                    SkipReason::MissingVariable => report.skipped.missing_variable += 1,
                    SkipReason::NoConsent => *report.skipped.no_consent.get_or_insert(0) += 1,
                }
                if report.errors.len() < max_errors {
                    report.errors.push(RowError {
                        row: contact.row,
                        reason,
                        skip_reason: r.as_str(),
                        phone: raw,
                        user_id: raw_user,
                    });
                }
            }
        }
        messages.push(NewMessage {
            phone: key,
            variables: contact.fields.to_json(),
            skip_reason: skip,
            user_id,
        });
    }
    (messages, report)
}

/// Parses every phone, on all cores: libphonenumber is the slow part of an import.
fn parse_phones(contacts: &[Contact], region: Option<Region>) -> Vec<Result<PhoneNumber, String>> {
    let parse = |c: &Contact| match &c.phone {
        None => Err("no phone".to_string()),
        Some(p) => PhoneNumber::parse(p, region).map_err(|e| e.to_string()),
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if contacts.len() < 2_000 || threads == 1 {
        return contacts.iter().map(parse).collect();
    }
    let chunk = contacts.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = contacts
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(parse).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::parse("Hola {{variable1}}, debes {{variable2}}", Some("{{url_imagen}}")).unwrap()
    }

    #[test]
    fn a_mapping_feeds_variables_from_columns_named_otherwise() {
        let csv = "Celular;Nombre completo\n+584121234567;Ana Pérez\n";
        let options = CsvOptions {
            field_mapping: Some(
                [("phone", "celular"), ("nombre", "Nombre completo")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..CsvOptions::default()
        };
        let contacts = contacts_from_csv_with(csv.as_bytes(), &options, 10).unwrap();
        assert_eq!(contacts[0].phone.as_deref(), Some("+584121234567"));
        assert_eq!(contacts[0].fields.get("nombre"), Some("Ana Pérez"));
        let mut wrong = options.clone();
        wrong
            .field_mapping
            .as_mut()
            .unwrap()
            .insert("nombre".into(), "Apellido".into());
        assert!(matches!(
            contacts_from_csv_with(csv.as_bytes(), &wrong, 10),
            Err(ImportError::UnknownColumn { .. })
        ));
    }

    #[test]
    fn tabs_are_detected_and_a_file_may_have_no_header() {
        let csv = "+584121234567\tAna\n\n+584121234568\tLuis\n";
        let options = CsvOptions {
            header: false,
            field_mapping: Some(
                [("phone", "1"), ("nombre", "2")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..CsvOptions::default()
        };
        let contacts = contacts_from_csv_with(csv.as_bytes(), &options, 10).unwrap();
        assert_eq!(contacts.len(), 2);
        assert_eq!((contacts[0].row, contacts[1].row), (1, 3));
        assert_eq!(contacts[1].fields.get("nombre"), Some("Luis"));
        assert_eq!(contacts[1].phone.as_deref(), Some("+584121234568"));
    }

    /// The CSV of seed 003, as it is.
    const SEED_003: &str = "numero,cedula,estatus_servicio,variable1,variable2,url_imagen\n\
584121234567,12345678,ACTIVO,Juan Pérez,25.00 USD,https://ejemplo.com/img1.jpg\n\
584129876543,87654321,SUSPENDIDO,María López,30.00 USD,\n";

    #[test]
    fn a_csv_of_bsuids_needs_no_phone_column_and_dedupes_by_identity() {
        let t = Template::parse("Hola {{nombre}}", None).unwrap();
        let csv = "user_id,nombre\nVE.1,Ana\nve.1,Ana otra vez\nVE 1,Mal\n";
        let contacts = contacts_from_csv(csv.as_bytes(), None, 10).unwrap();
        assert_eq!(contacts[0].user_id.as_deref(), Some("VE.1"));
        assert_eq!(contacts[0].phone, None);
        assert_eq!(
            contacts[0].fields.get("user_id"),
            None,
            "the BSUID is no template variable"
        );
        let opted: HashSet<String> = HashSet::new();
        let (messages, report) = classify(contacts, &t, None, &opted);
        assert_eq!(
            (report.accepted, report.skipped.duplicate, report.skipped.invalid_phone),
            (1, 1, 1)
        );
        assert_eq!(
            (messages[0].phone.as_str(), messages[0].user_id.as_deref()),
            ("VE.1", Some("VE.1"))
        );
        assert!(
            report.errors[1].reason.starts_with("invalid user_id"),
            "{:?}",
            report.errors
        );

        // A mapped column, beside a phone: the phone is the identity, and an opted-out
        // BSUID skips the contact even so.
        let csv = "Celular,Cuenta,nombre\n+584121234567,VE.2,Ana\n";
        let options = CsvOptions {
            field_mapping: Some([("user_id".to_string(), "Cuenta".to_string())].into_iter().collect()),
            ..CsvOptions::default()
        };
        let contacts = contacts_from_csv_with(csv.as_bytes(), &options, 10).unwrap();
        let (messages, _) = classify(contacts.clone(), &t, None, &opted);
        assert_eq!(
            (messages[0].phone.as_str(), messages[0].user_id.as_deref()),
            ("+584121234567", Some("VE.2"))
        );
        let opted: HashSet<String> = ["VE.2".to_string()].into();
        let (_, report) = classify(contacts, &t, None, &opted);
        assert_eq!(report.skipped.opted_out, 1);
        // Neither a phone nor a user_id column: the file is refused as before.
        assert!(matches!(
            contacts_from_csv(b"nombre\nAna\n", None, 10),
            Err(ImportError::NoPhoneColumn { .. })
        ));
    }

    #[test]
    fn the_seed_csv_imports_as_it_is() {
        let contacts = contacts_from_csv(SEED_003.as_bytes(), None, 100).unwrap();
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0].row, 2);
        assert_eq!(contacts[0].phone.as_deref(), Some("584121234567"));
        assert_eq!(contacts[0].fields.get("variable1").unwrap(), "Juan Pérez");
        let (messages, report) = classify(contacts, &template(), None, &HashSet::new());
        assert_eq!(report.accepted, 1);
        assert_eq!(report.skipped.missing_variable, 1, "row 3 has no url_imagen");
        assert_eq!(
            report.errors,
            vec![RowError {
                row: 3,
                reason: "missing template variable \"url_imagen\"".into(),
                skip_reason: "missing_variable",
                phone: "584129876543".into(),
                user_id: None,
            }]
        );
        assert_eq!(messages[0].phone, "+584121234567");
        assert!(messages[0].variables.contains("\"cedula\":\"12345678\""));
        assert_eq!(messages[1].skip_reason, Some(SkipReason::MissingVariable));
    }

    #[test]
    fn semicolons_quotes_bom_and_accented_headers() {
        let csv =
            "\u{feff}Teléfono;Nombre;variable1;variable2;url_imagen\n\"+58 412-123-4567\";\"Pérez; Juan\";a;b;u\n";
        let contacts = contacts_from_csv(csv.as_bytes(), None, 100).unwrap();
        assert_eq!(contacts[0].phone.as_deref(), Some("+58 412-123-4567"));
        assert_eq!(contacts[0].fields.get("Nombre").unwrap(), "Pérez; Juan");
    }

    #[test]
    fn every_skip_reason_is_reported() {
        let csv = "phone,variable1,variable2,url_imagen\n\
+584121234567,a,b,u\n\
not-a-phone,a,b,u\n\
0058 412 123 4567,a,b,u\n\
+584129876543,a,b,u\n\
+584125550000,a,,u\n";
        let contacts = contacts_from_csv(csv.as_bytes(), None, 100).unwrap();
        let opted: HashSet<String> = ["+584129876543".to_string()].into();
        let (messages, report) = classify(contacts, &template(), None, &opted);
        assert_eq!(report.accepted, 1);
        assert_eq!(
            report.skipped,
            SkipCounts {
                invalid_phone: 1,
                duplicate: 1,
                opted_out: 1,
                missing_variable: 1,
                no_consent: None,
            }
        );
        assert_eq!(
            report.errors.iter().map(|e| e.row).collect::<Vec<_>>(),
            vec![3, 4, 5, 6]
        );
        assert_eq!(messages.len(), 5, "every contact is kept, skipped ones too");
        assert_eq!(messages[1].phone, "not-a-phone");
    }

    #[test]
    fn consent_when_required_comes_after_opt_outs() {
        let csv = "phone,variable1,variable2,url_imagen\n\
+584121234567,a,b,u\n\
+584129876543,a,b,u\n\
+584125550000,a,b,u\n";
        let opted_out: HashSet<String> = ["+584125550000".to_string()].into();
        let opted_in: HashSet<String> = ["+584121234567".to_string(), "+584125550000".to_string()].into();
        let contacts = contacts_from_csv(csv.as_bytes(), None, 100).unwrap();
        let (messages, report) =
            classify_with_consent(contacts.clone(), &template(), None, &opted_out, Some(&opted_in));
        assert_eq!(report.accepted, 1);
        assert_eq!((report.skipped.no_consent, report.skipped.opted_out), (Some(1), 1));
        assert_eq!(messages[1].skip_reason, Some(SkipReason::NoConsent));
        assert_eq!(report.errors[0].row, 3);
        // Without the requirement, consent is not looked at.
        let (_, report) = classify(contacts, &template(), None, &opted_out);
        assert_eq!((report.accepted, report.skipped.no_consent), (2, None));
    }

    #[test]
    fn national_numbers_use_the_region() {
        let csv = "telefono,variable1,variable2,url_imagen\n0412 123 4567,a,b,u\n";
        let contacts = contacts_from_csv(csv.as_bytes(), None, 10).unwrap();
        let (messages, _) = classify(
            contacts,
            &template(),
            Some(Region::parse("VE").unwrap()),
            &HashSet::new(),
        );
        assert_eq!(messages[0].phone, "+584121234567");
    }

    #[test]
    fn refuses_files_it_cannot_read() {
        assert_eq!(contacts_from_csv(b"", None, 10).unwrap_err(), ImportError::Empty);
        assert_eq!(
            contacts_from_csv(b"phone,name\n", None, 10).unwrap_err(),
            ImportError::Empty
        );
        assert!(matches!(
            contacts_from_csv(b"name,city\nAna,Quito\n", None, 10),
            Err(ImportError::NoPhoneColumn { .. })
        ));
        assert_eq!(
            contacts_from_csv(b"phone\n1\n", Some("movil2"), 10).unwrap_err(),
            ImportError::UnknownPhoneColumn("movil2".into())
        );
        assert!(matches!(
            contacts_from_csv(b"phone,name\n+1,\xff\xfe\n", None, 10),
            Err(ImportError::NotUtf8 { .. })
        ));
        assert_eq!(
            contacts_from_csv(b"phone\n1\n2\n3\n", None, 2).unwrap_err(),
            ImportError::TooMany { max: 2 }
        );
        let custom = contacts_from_csv(b"cel,name\n+1\n", Some("cel"), 10).unwrap();
        assert_eq!(custom[0].phone.as_deref(), Some("+1"));
    }

    #[test]
    fn json_contacts_accept_any_phone_key_and_scalar_values() {
        let items = serde_json::json!([
            {"numero": "584121234567", "variable1": "Ana", "variable2": 25.5, "url_imagen": "u", "vip": true, "x": null},
            {"to": "+573001234567", "variable1": "Bo", "variable2": "1", "url_imagen": "u"},
            {"name": "no phone"}
        ]);
        let contacts = contacts_from_json(items.as_array().unwrap().clone(), 10).unwrap();
        assert_eq!(contacts[0].fields.get("variable2").unwrap(), "25.5");
        assert_eq!(contacts[0].fields.get("vip").unwrap(), "true");
        assert!(contacts[0].fields.get("x").is_none());
        let (messages, report) = classify(contacts, &template(), None, &HashSet::new());
        assert_eq!(report.accepted, 2);
        assert_eq!(report.skipped.invalid_phone, 1);
        assert_eq!(messages[1].phone, "+573001234567");
        assert_eq!(
            contacts_from_json(vec![serde_json::json!(5)], 10).unwrap_err(),
            ImportError::NotAnObject { row: 1 }
        );
        assert_eq!(contacts_from_json(vec![], 10).unwrap_err(), ImportError::Empty);
    }

    #[test]
    fn large_imports_parse_in_parallel_in_order() {
        let mut csv = String::from("phone,variable1,variable2,url_imagen\n");
        for i in 0..5_000 {
            csv.push_str(&format!("+58412{:07},a,b,u\n", i));
        }
        let contacts = contacts_from_csv(csv.as_bytes(), None, 10_000).unwrap();
        let (messages, report) = classify(contacts, &template(), None, &HashSet::new());
        assert_eq!(report.accepted, 5_000);
        assert_eq!(messages[4_999].phone, "+584120004999");
    }
}
