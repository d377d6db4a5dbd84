//! The message commands against a wiremock server on loopback.

use pregon_cli::{run_message_with, Client, MessageCommand};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn run(server: &MockServer, cmd: MessageCommand, json: bool) -> anyhow::Result<String> {
    let client = Client::new(&server.uri(), "test-key").unwrap();
    let mut out = Vec::new();
    run_message_with(&client, cmd, &mut out, json).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn list_send_and_cancel_talk_to_the_messages_api() {
    let server = MockServer::start().await;
    let page = json!({"items": [
        {"id": "12", "status": "queued", "phone": "+584121234567", "attempts": 0,
         "send_at": "2999-02-01T10:00:00.000Z", "next_attempt_at": "2999-02-01T10:00:00.000Z"}
    ], "next_cursor": null});
    Mock::given(method("GET"))
        .and(path("/api/v1/messages"))
        .and(query_param("scheduled", "true"))
        .and(query_param("limit", "5"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page.clone()))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/messages"))
        .and(body_json(json!({"to": "+584121234567", "template_id": "tpl_1",
                              "variables": {"nombre": "Juan", "monto": "25"},
                              "send_at": "2999-02-01T10:00:00Z"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"id": "12", "status": "queued"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/messages/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "12", "status": "cancelled"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/messages/13"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": {
            "code": "illegal_transition", "message": "the message is sent; only a message not yet attempted can be cancelled",
            "details": []}})))
        .mount(&server)
        .await;

    let list = || MessageCommand::List {
        scheduled: true,
        status: None,
        limit: 5,
    };
    let table = run(&server, list(), false).await.unwrap();
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.lines().nth(1).unwrap().contains("2999-02-01 10:00:00"), "{table}");
    let raw = run(&server, list(), true).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), page);

    let sent = run(
        &server,
        MessageCommand::Send {
            to: "+584121234567".into(),
            template: "tpl_1".into(),
            variables: vec![("nombre".into(), "Juan".into()), ("monto".into(), "25".into())],
            sender: None,
            send_at: Some("2999-02-01T10:00:00Z".into()),
            priority: None,
        },
        false,
    )
    .await
    .unwrap();
    assert_eq!(sent, "message 12 queued\n");
    let cancelled = run(&server, MessageCommand::Cancel { id: "12".into() }, false)
        .await
        .unwrap();
    assert_eq!(cancelled, "message 12 cancelled\n");
    let refused = run(&server, MessageCommand::Cancel { id: "13".into() }, false)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with("error: the message is sent") && refused.to_string().contains("HTTP 409"),
        "{refused}"
    );
}

/// A create carries an `Idempotency-Key`, and while the server says the first attempt is
/// still in progress, the CLI asks again with the same key: the message is made once.
#[tokio::test]
async fn a_send_retries_with_the_same_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/messages"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": {
            "code": "idempotency_key_in_progress", "message": "still in progress", "details": []}})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/messages"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"id": "12", "status": "queued"})))
        .expect(2)
        .mount(&server)
        .await;
    let client = Client::new(&server.uri(), "test-key").unwrap();
    let answer = client
        .send_message(&json!({"to": "+584121234567", "template_id": "tpl_1"}))
        .await
        .unwrap();
    assert_eq!(answer["id"], "12");
    let keys: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers.get("idempotency-key").unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the retry reuses the key");
    assert!(!keys[0].is_empty() && keys[0].len() <= 255);
    // A new create gets a new key.
    client
        .send_message(&json!({"to": "+584121234567", "template_id": "tpl_1"}))
        .await
        .unwrap();
    let third = server.received_requests().await.unwrap()[2].headers["idempotency-key"].clone();
    assert_ne!(third.to_str().unwrap(), keys[0]);
}
