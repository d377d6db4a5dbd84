//! Roles on every route: a table of each route and the role it needs, checked for every
//! role, and held to the OpenAPI document so that a route added later without a row here
//! (and so without a decided role) fails.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// The role each route needs (`None`: no sign-in at all).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/api/v1/senders", Some("viewer")),
    ("POST", "/api/v1/senders", Some("admin")),
    ("GET", "/api/v1/senders/{id}", Some("viewer")),
    ("PATCH", "/api/v1/senders/{id}", Some("admin")),
    ("DELETE", "/api/v1/senders/{id}", Some("admin")),
    ("POST", "/api/v1/senders/{id}/test", Some("admin")),
    ("GET", "/api/v1/templates", Some("viewer")),
    ("POST", "/api/v1/templates", Some("admin")),
    ("GET", "/api/v1/templates/{id}", Some("viewer")),
    ("DELETE", "/api/v1/templates/{id}", Some("admin")),
    ("POST", "/api/v1/templates/{id}/preview", Some("operator")),
    ("POST", "/api/v1/templates/sync", Some("admin")),
    ("GET", "/api/v1/campaigns", Some("viewer")),
    ("POST", "/api/v1/campaigns", Some("operator")),
    ("POST", "/api/v1/campaigns/import", Some("operator")),
    ("GET", "/api/v1/campaigns/{id}", Some("viewer")),
    ("POST", "/api/v1/campaigns/{id}/start", Some("operator")),
    ("POST", "/api/v1/campaigns/{id}/pause", Some("operator")),
    ("POST", "/api/v1/campaigns/{id}/resume", Some("operator")),
    ("POST", "/api/v1/campaigns/{id}/cancel", Some("operator")),
    ("POST", "/api/v1/campaigns/{id}/retry", Some("operator")),
    ("GET", "/api/v1/campaigns/{id}/messages", Some("viewer")),
    ("GET", "/api/v1/campaigns/{id}/messages.csv", Some("viewer")),
    ("GET", "/api/v1/campaigns/{id}/events", Some("viewer")),
    ("GET", "/api/v1/campaigns/{id}/failures", Some("viewer")),
    ("GET", "/api/v1/events", Some("viewer")),
    ("GET", "/api/v1/campaigns/{id}/replies", Some("viewer")),
    ("GET", "/api/v1/replies", Some("viewer")),
    ("POST", "/api/v1/messages", Some("operator")),
    ("GET", "/api/v1/messages", Some("viewer")),
    ("GET", "/api/v1/messages/{id}", Some("viewer")),
    ("DELETE", "/api/v1/messages/{id}", Some("operator")),
    ("POST", "/api/v1/opt-outs", Some("operator")),
    ("POST", "/api/v1/opt-outs/import", Some("operator")),
    ("GET", "/api/v1/opt-outs", Some("viewer")),
    ("DELETE", "/api/v1/opt-outs/{phone}", Some("operator")),
    ("POST", "/api/v1/opt-ins", Some("operator")),
    ("GET", "/api/v1/opt-ins", Some("viewer")),
    ("DELETE", "/api/v1/opt-ins/{phone}", Some("operator")),
    ("POST", "/api/v1/webhook-secret/rotate", Some("admin")),
    ("GET", "/api/v1/pricing", Some("viewer")),
    ("PUT", "/api/v1/pricing", Some("admin")),
    ("GET", "/api/v1/system", Some("viewer")),
    ("POST", "/api/v1/users", Some("owner")),
    ("GET", "/api/v1/users", Some("owner")),
    ("GET", "/api/v1/users/{id}", Some("owner")),
    ("PATCH", "/api/v1/users/{id}", Some("owner")),
    ("DELETE", "/api/v1/users/{id}", Some("owner")),
    ("POST", "/api/v1/api-keys", Some("owner")),
    ("GET", "/api/v1/api-keys", Some("owner")),
    ("DELETE", "/api/v1/api-keys/{id}", Some("owner")),
    ("GET", "/api/v1/audit", Some("owner")),
    ("GET", "/api/v1/me", Some("viewer")),
    ("PATCH", "/api/v1/me", Some("viewer")),
    ("POST", "/api/v1/sessions", None),
    ("DELETE", "/api/v1/sessions/current", Some("viewer")),
];

const ROLES: [&str; 4] = ["viewer", "operator", "admin", "owner"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

/// A key of each role, made by the owner key.
async fn keys(app: &TestApp) -> Vec<(&'static str, String)> {
    let mut keys = Vec::new();
    for role in ROLES {
        let made = app
            .post(
                "/api/v1/api-keys",
                &json!({"name": format!("{role} key"), "role": role}),
            )
            .await
            .expect(201);
        assert_eq!(made["role"], role);
        keys.push((role, made["key"].as_str().unwrap().to_string()));
    }
    keys
}

#[tokio::test]
async fn every_route_answers_403_below_its_role_and_serves_from_it_on() {
    let app = spawn_app().await;
    let keys = keys(&app).await;
    for (method, path, needed) in ROUTES {
        let Some(needed) = needed else { continue };
        let concrete = path.replace("{id}", "nope").replace("{phone}", "%2B584121234567");
        let method: Method = method.parse().unwrap();
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        for (role, key) in &keys {
            let reply = app.call(method.clone(), &concrete, Some(key), body.as_ref()).await;
            if rank(role) < rank(needed) {
                let err = reply.expect_error(403, "forbidden");
                assert!(
                    err["error"]["message"].as_str().unwrap().contains(needed),
                    "{method} {path}: the answer names the role needed: {err}"
                );
            } else {
                assert!(
                    !matches!(reply.status.as_u16(), 401 | 403),
                    "{method} {path} as {role} (needs {needed}): {} {}",
                    reply.status,
                    reply.text
                );
            }
        }
        // And nobody at all gets a 401.
        let reply = app.call(method.clone(), &concrete, None, body.as_ref()).await;
        reply.expect_error(401, "unauthorized");
    }
}

/// Every operation of the API document has its row in [`ROUTES`], and every row is in the
/// document: a new route must be given its role here.
#[tokio::test]
async fn the_table_holds_every_route_of_the_api_document() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.expect(200);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let tabled: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let undocumented: Vec<_> = tabled.difference(&documented).collect();
    assert!(missing.is_empty(), "routes with no role decided in ROUTES: {missing:?}");
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
}

#[tokio::test]
async fn a_key_cannot_make_a_key_above_its_own_role_and_revoked_keys_stop_at_once() {
    let app = spawn_app().await;
    let keys = keys(&app).await;
    let viewer = &keys[0].1;
    // The viewer cannot manage keys at all; the owner makes any.
    app.call(
        Method::POST,
        "/api/v1/api-keys",
        Some(viewer),
        Some(&json!({"name": "x", "role": "viewer"})),
    )
    .await
    .expect_error(403, "forbidden");
    let listed = app.get("/api/v1/api-keys").await.expect(200);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "the bootstrap key and the four made: {listed}");
    assert!(
        items
            .iter()
            .all(|k| k.get("key").is_none() && k["prefix"].as_str().is_some()),
        "a key is never listed: {listed}"
    );
    let viewer_id = items.iter().find(|k| k["name"] == "viewer key").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.call(Method::GET, "/api/v1/campaigns", Some(viewer), None)
        .await
        .expect(200);
    app.delete(&format!("/api/v1/api-keys/{viewer_id}")).await.expect(204);
    app.call(Method::GET, "/api/v1/campaigns", Some(viewer), None)
        .await
        .expect_error(401, "unauthorized");
    // The audit log names who did it.
    let audit = app.get("/api/v1/audit?action=api_key.delete").await.expect(200);
    let row = &audit["items"][0];
    assert_eq!(row["target"], json!({"kind": "api_key", "id": viewer_id}));
    assert_eq!(row["actor"]["kind"], "api_key");
}
