//! The API contract as `/openapi.json` states it, checked without schemathesis: every
//! operation lists the error answers it can give with the error schema, list routes say
//! their bounds, and a bad `limit`, `cursor` or `status` is a 400 on every list route of the
//! document (so a list route added later is held to it too). `scripts/contract.sh` fuzzes
//! the same document against the binary; its findings are pinned here.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error_shape, contacts, phones, spawn_app, TestApp};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn authenticated(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|r| !r.is_empty())))
}

#[tokio::test]
async fn every_api_operation_documents_its_error_answers_with_the_error_schema() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        checked += 1;
        let mut expected = vec!["400", "503"];
        if authenticated(&op) {
            expected.extend(["401", "403", "429"]);
        }
        if path.contains('{') {
            expected.push("404");
        }
        if ["post", "put", "patch"].contains(&method.as_str()) {
            expected.extend(["413", "415", "422"]);
        }
        if method == "post" {
            expected.push("409");
        }
        if method != "get" {
            expected.push("507");
        }
        let responses = op["responses"].as_object().unwrap();
        for status in expected {
            let answer = responses
                .get(status)
                .unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
            assert_eq!(
                answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {status}: {answer}"
            );
        }
        // Every error it documents, its own ones included, has the error shape.
        for (status, answer) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}: {answer}"
                );
            }
        }
        // Every parameter is where it is sent: a path parameter is named by the path.
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "path" {
                let name = p["name"].as_str().unwrap();
                assert!(path.contains(&format!("{{{name}}}")), "{method} {path}: {p}");
            }
        }
    }
    assert!(checked > 50, "the document has the API's operations: {checked}");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["error"]), "{error}");
}

#[tokio::test]
async fn the_document_states_paging_bounds_status_values_and_content_types() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let mut lists = 0;
    for (method, path, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            match p["name"].as_str().unwrap() {
                "limit" => {
                    lists += 1;
                    assert_eq!(p["in"], "query", "{method} {path}: {p}");
                    assert_eq!(p["required"], false, "{method} {path}: {p}");
                    assert_eq!(
                        (&p["schema"]["type"], &p["schema"]["minimum"], &p["schema"]["maximum"]),
                        (&json!("integer"), &json!(1), &json!(200)),
                        "{method} {path}: {p}"
                    );
                }
                "cursor" => assert_eq!(p["schema"]["maxLength"], 200, "{method} {path}: {p}"),
                "status" if p["in"] == "query" => {
                    assert!(
                        p["schema"]["enum"].as_array().is_some_and(|e| !e.is_empty()),
                        "{method} {path}: {p}"
                    )
                }
                _ => {}
            }
        }
    }
    assert!(lists >= 10, "the list routes have `limit`: {lists}");
    let content = |path: &str, status: &str| -> Vec<String> {
        doc["paths"][path]["get"]["responses"][status]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(content("/api/v1/campaigns/{id}/messages.csv", "200"), ["text/csv"]);
    assert_eq!(content("/api/v1/campaigns/{id}/events", "200"), ["text/event-stream"]);
    assert_eq!(content("/api/v1/campaigns/{id}", "200"), ["application/json"]);
    let import = &doc["paths"]["/api/v1/campaigns/import"]["post"]["requestBody"]["content"];
    assert!(import.get("multipart/form-data").is_some(), "{import}");
}

#[tokio::test]
async fn what_is_created_links_to_the_operations_on_it() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let links = &doc["paths"]["/api/v1/campaigns"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["Get"],
        json!({"operationRef": "#/paths/~1api~1v1~1campaigns~1{id}/get", "parameters": {"id": "$response.body#/id"}}),
        "{links}"
    );
    for name in ["PostStart", "PostPause", "GetMessages", "GetMessagesCsv"] {
        assert!(links.get(name).is_some(), "{name} in {links}");
    }
    let sender = &doc["paths"]["/api/v1/senders"]["post"]["responses"]["201"]["links"];
    for name in ["Get", "Patch", "Delete", "PostTest"] {
        assert!(sender.get(name).is_some(), "{name} in {sender}");
    }
    // A single message is accepted (202), and links to itself as well.
    let message = &doc["paths"]["/api/v1/messages"]["post"]["responses"]["202"]["links"];
    assert!(
        message.get("Get").is_some() && message.get("Delete").is_some(),
        "{message}"
    );
    // Every link names an operation that exists.
    for (method, path, op) in operations(&doc) {
        for (status, answer) in op["responses"].as_object().unwrap() {
            for (name, link) in answer["links"].as_object().into_iter().flatten() {
                let target = link["operationRef"].as_str().unwrap().trim_start_matches('#');
                assert!(
                    doc.pointer(target).is_some(),
                    "{method} {path} {status} link {name}: {link}"
                );
            }
        }
    }
}

/// Each list route of the document with the value its path parameter needs.
async fn list_routes(app: &TestApp, doc: &Value) -> Vec<(String, Value)> {
    let template = app.template().await;
    let campaign = app.draft_campaign(&template).await;
    let mut out = Vec::new();
    for (method, path, op) in operations(doc) {
        let takes_limit = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "limit");
        if method != "get" || !takes_limit {
            continue;
        }
        let concrete = match path.as_str() {
            p if p.starts_with("/api/v1/campaigns/{id}/") => p.replace("{id}", &campaign),
            p => {
                assert!(!p.contains('{'), "a list route this test cannot fill in: {p}");
                p.to_string()
            }
        };
        out.push((concrete, op));
    }
    out
}

/// A query value this API refuses: 400 in the error shape, naming the parameter.
async fn assert_refused(app: &TestApp, url: &str, param: &str) {
    let reply = app.get(url).await;
    assert_eq!(reply.status.as_u16(), 400, "{url}: {} {}", reply.status, reply.text);
    assert_error_shape(&reply);
    let err = reply.json();
    assert_eq!(err["error"]["code"], "invalid_query", "{url}: {err}");
    let named =
        err["error"]["details"][0]["field"] == param || err["error"]["message"].as_str().unwrap().contains(param);
    assert!(named, "{url}: the answer names {param}: {err}");
}

#[tokio::test]
async fn bad_paging_and_filters_are_400_on_every_list_route() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let routes = list_routes(&app, &doc).await;
    assert!(routes.len() >= 10, "{routes:?}");
    for (path, op) in &routes {
        let sep = if path.contains('?') { '&' } else { '?' };
        for limit in ["abc", "1e3", "99999", "-1", "0", "201", "1.5", ""] {
            assert_refused(&app, &format!("{path}{sep}limit={limit}"), "limit").await;
        }
        assert_refused(&app, &format!("{path}{sep}cursor={}", "c".repeat(201)), "cursor").await;
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        if params.contains(&"status") {
            assert_refused(&app, &format!("{path}{sep}status=nonsense"), "status").await;
        }
        if params.contains(&"action") {
            assert_refused(&app, &format!("{path}{sep}action=nonsense"), "action").await;
        }
        // The bounds themselves are taken.
        app.get(&format!("{path}{sep}limit=1")).await.expect(200);
        app.get(&format!("{path}{sep}limit=200")).await.expect(200);
    }
}

/// Findings of the contract run, kept.
#[tokio::test]
async fn findings_of_the_contract_fuzzing_stay_fixed() {
    let app = spawn_app().await;
    // `?campaigns=` with no ids was a 422 the document did not list; a query is a 400.
    assert_refused(&app, "/api/v1/events?campaigns=", "campaigns").await;
    // An empty PATCH of a sender is valid (every field optional), as the document says.
    let sender = app.default_sender().await;
    let id = sender["id"].as_str().unwrap();
    let reply = app
        .call(Method::PATCH, &format!("/api/v1/senders/{id}"), None, None)
        .await;
    assert_eq!(reply.status.as_u16(), 401, "no key, no change: {}", reply.text);
    app.patch(&format!("/api/v1/senders/{id}"), &json!({}))
        .await
        .expect(200);
    // A body of optional fields read an array as a struct: `[]` was a 200 preview.
    let template = app.template().await;
    for (path, method) in [
        (format!("/api/v1/templates/{template}/preview"), Method::POST),
        (format!("/api/v1/senders/{id}"), Method::PATCH),
    ] {
        let reply = app
            .send(
                app.request(method, &path)
                    .header("content-type", "application/json")
                    .body("[]"),
            )
            .await;
        reply.expect_error(422, "invalid_body");
    }
    app.post(&format!("/api/v1/templates/{template}/preview"), &json!({}))
        .await
        .expect(200);
    let doc = app.get("/openapi.json").await.expect(200);
    let update = &doc["components"]["schemas"]["UpdateSender"];
    assert!(
        update.get("required").is_none_or(|r| r.as_array().unwrap().is_empty()),
        "{update}"
    );
}

/// What a client can see of the tenant's state: every list the document has, in full, and
/// the audit log (which records every change).
async fn snapshot(app: &TestApp, lists: &[String]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in lists {
        let mut page = app.get(&format!("{path}?limit=200")).await.expect(200);
        // When a key or session was last used is not a change the request made.
        for item in page["items"].as_array_mut().into_iter().flatten() {
            if let Some(item) = item.as_object_mut() {
                item.remove("last_used_at");
            }
        }
        out.push((path.clone(), page));
    }
    out
}

#[tokio::test]
async fn a_refused_change_changes_nothing_on_any_route_of_the_document() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let template = app.template().await;
    let campaign = app
        .create_campaign(
            json!({"name": "x", "template_id": template, "contacts": contacts(&phones(2)), "start": false}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sender = app.default_sender().await["id"].as_str().unwrap().to_string();
    // Every list without a path parameter, the audit log among them.
    let lists: Vec<String> = operations(&doc)
        .into_iter()
        .filter(|(m, p, op)| {
            m == "get"
                && p.starts_with("/api/v1/")
                && !p.contains('{')
                && op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|q| q["name"] == "limit")
        })
        .map(|(_, p, _)| p)
        .collect();
    assert!(lists.contains(&"/api/v1/audit".to_string()), "{lists:?}");
    let mut refused = 0;
    for (method, path, _) in operations(&doc) {
        if method == "get" || !path.starts_with("/api/v1/") {
            continue;
        }
        let concrete = path
            .replace("/campaigns/{id}", &format!("/campaigns/{campaign}"))
            .replace("/senders/{id}", &format!("/senders/{sender}"))
            .replace("/templates/{id}", &format!("/templates/{template}"))
            .replace("{phone}", "%2B584121234567")
            .replace("{id}", "nope");
        let method: Method = method.to_uppercase().parse().unwrap();
        for (content_type, body) in [
            ("application/json", &b"{\"name\": "[..]),
            ("application/json", b"[1, 2, 3]"),
            ("text/plain", b"name=x"),
        ] {
            let before = snapshot(&app, &lists).await;
            let reply = app
                .send(
                    app.request(method.clone(), &concrete)
                        .header("content-type", content_type)
                        .body(body.to_vec()),
                )
                .await;
            let status = reply.status.as_u16();
            assert!(
                status < 500,
                "{method} {path} with {content_type}: {status} {}",
                reply.text
            );
            if (400..500).contains(&status) {
                refused += 1;
                assert_error_shape(&reply);
                let after = snapshot(&app, &lists).await;
                for ((list, was), (_, is)) in before.iter().zip(&after) {
                    assert_eq!(was, is, "{method} {path} answered {status} but changed {list}");
                }
            }
        }
    }
    assert!(refused > 50, "most changes refuse these bodies: {refused}");
}
