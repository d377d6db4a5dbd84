//! `/api/v1/opt-outs`: numbers a tenant must not message.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, OTHER_KEY};

fn phones_of(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["phone"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_list_delete() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/opt-outs",
            &json!({"phone": "+58 412-123-4567", "reason": "respondió BAJA"}),
        )
        .await
        .expect(201);
    assert_eq!(created["phone"], "+584121234567", "stored in E.164");
    assert_eq!(created["source"], "api");
    // Again, in another spelling: still one opt-out.
    app.post("/api/v1/opt-outs", &json!({"phone": "00584121234567"}))
        .await
        .expect(201);
    app.post("/api/v1/opt-outs", &json!({"phone": "584129876543"}))
        .await
        .expect(201);
    let list = app.get("/api/v1/opt-outs").await.expect(200);
    assert_eq!(phones_of(&list), ["+584121234567", "+584129876543"]);
    assert_eq!(list["items"][0]["reason"], "respondió BAJA");
    let page = app.get("/api/v1/opt-outs?limit=1").await.expect(200);
    assert_eq!(phones_of(&page).len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let page2 = app
        .get(&format!("/api/v1/opt-outs?limit=1&cursor={}", urlencode(cursor)))
        .await
        .expect(200);
    assert_eq!(phones_of(&page2), ["+584129876543"]);

    // The other tenant neither sees nor is bound by them.
    let theirs = app
        .call(Method::GET, "/api/v1/opt-outs", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert_eq!(theirs["items"], json!([]));

    let reply = app.delete("/api/v1/opt-outs/+584121234567").await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(
        phones_of(&app.get("/api/v1/opt-outs").await.expect(200)),
        ["+584129876543"]
    );
    app.delete("/api/v1/opt-outs/+584121234567")
        .await
        .expect_error(404, "not_found");
    // Any spelling of the number addresses it.
    assert_eq!(
        app.delete("/api/v1/opt-outs/%2B58%20412%20987%206543").await.status,
        204
    );
    assert_eq!(app.get("/api/v1/opt-outs").await.expect(200)["items"], json!([]));
    app.delete("/api/v1/opt-outs/garbage")
        .await
        .expect_error(404, "not_found");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
}

#[tokio::test]
async fn opting_out_blocks_messages_until_removed() {
    let app = spawn_app().await;
    let template = app.template().await;
    app.post("/api/v1/opt-outs", &json!({"phone": "+584121234567"}))
        .await
        .expect(201);
    let body = json!({"to": "+584121234567", "template_id": template, "variables": {"nombre": "a", "monto": "1"}});
    app.post("/api/v1/messages", &body).await.expect_error(422, "opted_out");
    assert_eq!(app.delete("/api/v1/opt-outs/+584121234567").await.status, 204);
    app.post("/api/v1/messages", &body).await.expect(202);
}

#[tokio::test]
async fn invalid_opt_outs_are_422() {
    let app = spawn_app().await;
    for body in [
        json!({"phone": "nope"}),
        json!({"phone": ""}),
        json!({"phone": "+58412", "reason": "x"}),
        json!({"phone": "+584121234567", "reason": "x".repeat(501)}),
    ] {
        let reply = app.post("/api/v1/opt-outs", &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        crate::helpers::assert_error_shape(&reply);
    }
    app.post("/api/v1/opt-outs", &json!({"reason": "no phone"}))
        .await
        .expect_error(422, "invalid_body");
    assert_eq!(app.get("/api/v1/opt-outs").await.expect(200)["items"], json!([]));
}
