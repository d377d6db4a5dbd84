//! The parts of the OpenAPI document that follow from the API's conventions rather than
//! from one handler: the error answers every operation can give, the bounds of the paging
//! parameters, and the links from a created resource to the operations on it.
//!
//! They are added over the whole document in one place ([`document`]), so a route added
//! later gets them without a word in its `#[utoipa::path]`: a handler lists only its own successes and
//! the errors particular to it (a 409 of an illegal state change, say).
//!
//! The rules, by method and authentication (api.md, "Conventions" and "Additions"):
//! - every `/api/v1` operation: 400 (a query, header or path it cannot read) and 503
//!   (`storage_unavailable`);
//! - every authenticated one: 401 (no or a wrong key), 403 (a role too low, or a change made
//!   with a session cookie and no CSRF token) and 429 (`rate_limited`);
//! - every one with a path parameter: 404;
//! - every one with a body (`POST`, `PUT`, `PATCH`): 413, 415 and 422;
//! - every `POST`: 409 and 422 of `Idempotency-Key` (in progress, reused);
//! - every change (`POST`, `PUT`, `PATCH`, `DELETE`): 507 (`storage_full`).

use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Object;

/// The most items a list gives in one page, and the default (api.md, "Lists").
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 50;
/// The longest cursor this API gives out; longer ones are refused without a look-up.
pub const MAX_CURSOR_LEN: usize = 200;

/// A string that is one of `values`: for a query parameter read as text and parsed in the
/// handler, so that the document lists what the handler accepts.
fn one_of<'a>(values: impl Iterator<Item = &'a str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.collect::<Vec<_>>()))
        .build()
}

/// `?status=` of campaign lists.
pub fn campaign_status() -> Object {
    one_of(pregon_domain::CampaignStatus::ALL.iter().map(|s| s.as_str()))
}

/// `?status=` of message lists.
pub fn message_status() -> Object {
    one_of(pregon_domain::MessageStatus::ALL.iter().map(|s| s.as_str()))
}

/// `?action=` of the audit log.
pub fn audit_action() -> Object {
    one_of(pregon_domain::AuditAction::ALL.iter().map(|s| s.as_str()))
}

const ERROR_REF: &str = "#/components/schemas/ErrorBody";

/// The API document as served at `/openapi.json`: [`super::ApiDoc`] with the conventions
/// above applied to every operation.
///
/// This works on the document's JSON form rather than as a utoipa `Modify`: utoipa 5
/// writes a link's `operationRef` as `operation_ref`, which no OpenAPI reader knows, and
/// its JSON form is the document itself.
pub fn document(openapi: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("the API document is JSON");
    apply(&mut doc);
    doc
}

/// Adds the error answers, paging bounds and links to a document in its JSON form.
pub fn apply(doc: &mut Value) {
    let schemas = doc.pointer("/components/schemas").cloned().unwrap_or_else(|| json!({}));
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let links = links(paths, &schemas);
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            if !is_method(method) {
                continue;
            }
            for (status, code) in statuses(path, method, op) {
                add_error(op, status, code);
            }
            if path.starts_with("/api/v1/") {
                schema_for_own_errors(op);
            }
            place_parameters(path, op);
            bound_paging(op);
            if method == "post" {
                for status in ["201", "202"] {
                    if let Some(found) = links.get(&(path.clone(), status.to_string())) {
                        add_links(op, status, found);
                    }
                }
            }
        }
    }
}

fn is_method(m: &str) -> bool {
    matches!(m, "get" | "post" | "put" | "patch" | "delete")
}

fn is_authenticated(op: &Map<String, Value>) -> bool {
    op.get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|req| req.as_object().is_some_and(|r| !r.is_empty())))
}

/// The error statuses an operation can answer by the conventions, with what each means.
fn statuses(path: &str, method: &str, op: &Map<String, Value>) -> Vec<(u16, &'static str)> {
    let mut out = Vec::new();
    if !path.starts_with("/api/v1/") {
        return out;
    }
    let changes = matches!(method, "post" | "put" | "patch" | "delete");
    let has_body = matches!(method, "post" | "put" | "patch");
    out.push((
        400,
        "the request could not be read: a query, header or path value, or the body",
    ));
    if is_authenticated(op) {
        out.push((401, "no valid API key or session (`unauthorized`)"));
        out.push((
            403,
            "the caller's role does not allow this (`forbidden`), or a change made with a session cookie lacks X-CSRF-Token (`csrf`)",
        ));
        out.push((
            429,
            "too many requests from this key or session (`rate_limited`, with Retry-After)",
        ));
    }
    if path.contains('{') {
        out.push((404, "no such resource in this tenant (`not_found`)"));
    }
    if has_body {
        out.push((413, "the body is larger than the configured limit (`body_too_large`)"));
        out.push((415, "the body is not of a content type this operation takes"));
        out.push((
            422,
            "the body is well-formed but a value is not acceptable, or an Idempotency-Key was reused with another body",
        ));
    }
    if method == "post" {
        out.push((
            409,
            "a conflict: an illegal state change, a duplicate, or the same Idempotency-Key still running",
        ));
    }
    out.push((
        503,
        "the database cannot take the request now (`storage_unavailable`); nothing was changed",
    ));
    if changes {
        out.push((
            507,
            "the database's storage is full (`storage_full`); nothing was changed",
        ));
    }
    out
}

/// Adds an error answer unless the operation documents that status itself (its own answer
/// keeps its words; [`schema_for_own_errors`] gives it the error schema).
fn add_error(op: &mut Map<String, Value>, status: u16, description: &str) {
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    let content = json!({"application/json": {"schema": {"$ref": ERROR_REF}}});
    responses
        .entry(status.to_string())
        .or_insert_with(|| json!({"description": description, "content": content}));
}

/// An error an `/api/v1` operation documents itself, without a body, has the error shape
/// like every other.
fn schema_for_own_errors(op: &mut Map<String, Value>) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, answer) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            if let Some(answer) = answer.as_object_mut() {
                answer
                    .entry("content")
                    .or_insert_with(|| json!({"application/json": {"schema": {"$ref": ERROR_REF}}}));
            }
        }
    }
}

/// utoipa places the fields of an `IntoParams` struct in the path unless the handler takes
/// them through axum's own `Query` (ours is [`super::extract::ApiQuery`]); a "path"
/// parameter that the path does not name is a query parameter.
fn place_parameters(path: &str, op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params.iter_mut() {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if p.get("in").and_then(Value::as_str) == Some("path") && !path.contains(&format!("{{{name}}}")) {
            p["in"] = json!("query");
            if p.get("required") == Some(&json!(true)) && p.pointer("/schema/type").is_some_and(|t| t.is_array()) {
                p["required"] = json!(false);
            }
        }
    }
}

/// `limit` and `cursor` say their bounds wherever they appear.
fn bound_paging(op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params.iter_mut() {
        if p.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let schema = match name.as_str() {
            "limit" => {
                json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})
            }
            "cursor" => json!({"type": "string", "maxLength": MAX_CURSOR_LEN}),
            _ => continue,
        };
        p["schema"] = schema;
        p["required"] = json!(false);
    }
}

/// For each operation that creates (`POST` answering 201 or 202 with an object), the operations on
/// what it created: those whose path is the creating path followed by one parameter, which
/// the created object carries under the same name (`POST /campaigns` → `GET /campaigns/{id}`,
/// `POST /campaigns/{id}/start`, …). Keyed by the creating operation's path and status.
type Links = std::collections::BTreeMap<(String, String), Vec<(String, Value)>>;

fn links(paths: &Map<String, Value>, schemas: &Value) -> Links {
    let mut out = Links::new();
    for (path, item) in paths {
        let Some(create) = item.get("post") else { continue };
        let Some((status, created)) = ["201", "202"].into_iter().find_map(|status| {
            create
                .pointer(&format!("/responses/{status}/content/application~1json/schema"))
                .map(|schema| (status, schema))
        }) else {
            continue;
        };
        let properties = properties(created, schemas);
        let prefix = format!("{path}/{{");
        for (target, target_item) in paths {
            let Some(rest) = target.strip_prefix(&prefix) else {
                continue;
            };
            let Some((param, _)) = rest.split_once('}') else {
                continue;
            };
            if param.contains('{') || rest[param.len() + 1..].contains('{') || !properties.contains(&param.to_string())
            {
                continue;
            }
            let Some(target_item) = target_item.as_object() else {
                continue;
            };
            for method in target_item.keys().filter(|m| is_method(m)) {
                let name = link_name(method, &target[path.len()..]);
                let pointer = format!("#/paths/{}/{method}", target.replace('~', "~0").replace('/', "~1"));
                out.entry((path.clone(), status.to_string())).or_default().push((
                    name,
                    json!({
                        "operationRef": pointer,
                        "parameters": {param: format!("$response.body#/{param}")},
                    }),
                ));
            }
        }
    }
    out
}

/// `GET /{id}/messages` → `GetMessages`; `DELETE /{id}` → `Delete`.
fn link_name(method: &str, rest: &str) -> String {
    let mut name = capitalise(method);
    for part in rest.split('/').filter(|p| !p.is_empty() && !p.starts_with('{')) {
        for word in part.split(|c: char| !c.is_ascii_alphanumeric()) {
            name.push_str(&capitalise(word));
        }
    }
    name
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The property names of a schema, through `$ref`s and `allOf`.
fn properties(schema: &Value, schemas: &Value) -> Vec<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return schemas.get(name).map(|s| properties(s, schemas)).unwrap_or_default();
    }
    let mut out: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            out.extend(properties(part, schemas));
        }
    }
    out
}

fn add_links(op: &mut Map<String, Value>, status: &str, found: &[(String, Value)]) {
    let Some(created) = op
        .get_mut("responses")
        .and_then(|r| r.get_mut(status))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let links = created
        .entry("links")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("links is an object");
    for (name, link) in found {
        links.entry(name.clone()).or_insert_with(|| link.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route written with nothing but its success, as a new one would be.
    fn doc_with(path: &str, method: &str, op: Value) -> Value {
        json!({"paths": {path: {method: op}}, "components": {"schemas": {}}})
    }

    fn statuses_of(doc: &Value, path: &str, method: &str) -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn a_route_added_later_inherits_the_errors_of_its_method_and_auth() {
        let mut doc = doc_with(
            "/api/v1/pricing",
            "put",
            json!({"security": [{"api_key": []}], "responses": {"200": {"description": "the rates"}}}),
        );
        apply(&mut doc);
        assert_eq!(
            statuses_of(&doc, "/api/v1/pricing", "put"),
            ["200", "400", "401", "403", "413", "415", "422", "429", "503", "507"]
        );
        let forbidden = &doc["paths"]["/api/v1/pricing"]["put"]["responses"]["403"];
        assert_eq!(forbidden["content"]["application/json"]["schema"]["$ref"], ERROR_REF);

        // Unauthenticated reads outside the API are left as they are.
        let mut doc = doc_with("/health", "get", json!({"responses": {"200": {"description": "ok"}}}));
        apply(&mut doc);
        assert_eq!(statuses_of(&doc, "/health", "get"), ["200"]);
    }

    #[test]
    fn an_operations_own_error_keeps_its_words_and_gains_the_schema() {
        let mut doc = doc_with(
            "/api/v1/things/{id}",
            "delete",
            json!({"security": [{"api_key": []}], "responses": {"409": {"description": "still in use"}}}),
        );
        apply(&mut doc);
        let conflict = &doc["paths"]["/api/v1/things/{id}"]["delete"]["responses"]["409"];
        assert_eq!(conflict["description"], "still in use");
        assert_eq!(conflict["content"]["application/json"]["schema"]["$ref"], ERROR_REF);
        let statuses = statuses_of(&doc, "/api/v1/things/{id}", "delete");
        assert!(statuses.contains(&"404".to_string()) && !statuses.contains(&"415".to_string()));
    }

    #[test]
    fn query_fields_utoipa_put_in_the_path_move_to_the_query_with_their_bounds() {
        let mut doc = doc_with(
            "/api/v1/things/{id}/items",
            "get",
            json!({"parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "limit", "in": "path", "required": true, "schema": {"type": ["integer", "null"]}},
                {"name": "kind", "in": "path", "required": true, "schema": {"type": ["string", "null"]}},
            ], "responses": {}}),
        );
        apply(&mut doc);
        let params = &doc["paths"]["/api/v1/things/{id}/items"]["get"]["parameters"];
        assert_eq!(
            (&params[0]["in"], &params[0]["required"]),
            (&json!("path"), &json!(true))
        );
        assert_eq!(params[1]["in"], "query");
        assert_eq!(params[1]["schema"]["maximum"], MAX_LIMIT);
        assert_eq!(
            (&params[2]["in"], &params[2]["required"]),
            (&json!("query"), &json!(false))
        );
    }

    #[test]
    fn a_creation_links_to_the_operations_on_what_it_made() {
        let mut doc = json!({
            "paths": {
                "/api/v1/things": {"post": {"responses": {"201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}},
                "/api/v1/things/{id}": {"get": {"responses": {}}, "delete": {"responses": {}}},
                "/api/v1/things/{id}/start": {"post": {"responses": {}}},
                "/api/v1/things/{other}": {"patch": {"responses": {}}},
            },
            "components": {"schemas": {"Thing": {"type": "object", "properties": {"id": {"type": "string"}}}}},
        });
        apply(&mut doc);
        let links = doc["paths"]["/api/v1/things"]["post"]["responses"]["201"]["links"]
            .as_object()
            .unwrap();
        let names: Vec<&String> = links.keys().collect();
        assert_eq!(
            names,
            ["Delete", "Get", "PostStart"],
            "none for a parameter the object lacks"
        );
        assert_eq!(
            links["PostStart"],
            json!({"operationRef": "#/paths/~1api~1v1~1things~1{id}~1start/post", "parameters": {"id": "$response.body#/id"}})
        );
    }
}
