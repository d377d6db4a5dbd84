//! End-to-end tests of the campaign commands against a wiremock server on loopback.

use std::time::Duration;

use clap::{CommandFactory, Parser};
use pregon_cli::{run_campaign, run_campaign_with, CampaignCommand, Client, ClientArgs, ClientError, OutputMode};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "test-key";

fn campaign(id: &str, status: &str, queued: u64, sent: u64) -> Value {
    json!({
        "id": id, "name": "spring sale", "status": status, "paused_reason": null,
        "sender_id": "snd_1", "template_id": "tpl_1", "priority": 5, "total": 100,
        "counts": {"queued": queued, "claimed": 0, "sending": 0, "sent": sent, "delivered": 0,
                   "read": 0, "failed": 100 - queued - sent, "unknown": 0, "skipped": 0, "cancelled": 0},
        "progress_percent": (100 - queued) as f64, "created_at": "2024-05-01T10:00:00Z",
        "started_at": "2024-05-01T10:00:05Z",
        "completed_at": if status == "completed" { json!("2024-05-01T10:01:52Z") } else { Value::Null },
        "last_sent_at": null, "current_rate": 79.6, "eta_seconds": 107
    })
}

fn client(server: &MockServer) -> Client {
    Client::new(&server.uri(), KEY)
        .unwrap()
        .with_poll_interval(Duration::from_millis(10))
}

async fn run(server: &MockServer, cmd: CampaignCommand, json: bool) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let mode = OutputMode { json, tty: false };
    run_campaign_with(&client(server), cmd, &mut out, mode).await?;
    Ok(String::from_utf8(out).unwrap())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn create_uploads_multipart_with_fields_and_auth() {
    let server = MockServer::start().await;
    let mut answer = campaign("cmp_new", "draft", 100, 0);
    answer["import"] = json!({
        "accepted": 2,
        "skipped": {"invalid_phone": 1, "duplicate": 0, "opted_out": 0, "missing_variable": 0},
        "errors": [{"row": 3, "reason": "invalid phone number"}]
    });
    Mock::given(method("POST"))
        .and(path("/api/v1/campaigns/import"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(ResponseTemplate::new(201).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("spring_sale.csv");
    let csv = b"phone,first_name\n+5491100000001,Ana\n+5491100000002,Luis\nnope,Bad\n";
    std::fs::write(&csv_path, csv).unwrap();

    let out = run(
        &server,
        CampaignCommand::Create {
            csv: csv_path,
            template: "tpl_1".into(),
            name: None,
            sender: Some("snd_1".into()),
            phone_column: Some("phone".into()),
            default_region: Some("AR".into()),
            priority: Some(7),
            plan: Default::default(),
            draft: true,
            watch: false,
        },
        false,
    )
    .await
    .unwrap();

    assert!(out.contains("cmp_new"), "{out}");
    assert!(out.contains("draft"), "{out}");
    assert!(out.contains("accepted: 2"), "{out}");
    assert!(out.contains("invalid_phone 1"), "{out}");
    assert!(out.contains("row 3: invalid phone number"), "{out}");

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    let content_type = req.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let body = &req.body;
    assert!(contains(body, csv), "CSV bytes missing from the upload");
    for part in [
        &b"name=\"file\"; filename=\"spring_sale.csv\""[..],
        b"Content-Type: text/csv",
        b"name=\"name\"\r\n\r\nspring_sale\r\n",
        b"name=\"template_id\"\r\n\r\ntpl_1\r\n",
        b"name=\"sender_id\"\r\n\r\nsnd_1\r\n",
        b"name=\"phone_column\"\r\n\r\nphone\r\n",
        b"name=\"default_region\"\r\n\r\nAR\r\n",
        b"name=\"priority\"\r\n\r\n7\r\n",
        b"name=\"start\"\r\n\r\nfalse\r\n",
    ] {
        assert!(
            contains(body, part),
            "missing {:?} in body:\n{}",
            String::from_utf8_lossy(part),
            String::from_utf8_lossy(body)
        );
    }
}

#[tokio::test]
async fn create_without_draft_sends_start_true_and_omits_unset_fields() {
    let server = MockServer::start().await;
    let mut answer = campaign("cmp_go", "running", 100, 0);
    answer["import"] = json!({"accepted": 1, "skipped": {}, "errors": []});
    Mock::given(method("POST"))
        .and(path("/api/v1/campaigns/import"))
        .respond_with(ResponseTemplate::new(201).set_body_json(answer))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("list.csv");
    std::fs::write(&csv_path, "phone\n+5491100000001\n").unwrap();

    let out = run(
        &server,
        CampaignCommand::Create {
            csv: csv_path,
            template: "tpl_1".into(),
            name: Some("Custom name".into()),
            sender: None,
            phone_column: None,
            default_region: None,
            priority: None,
            plan: Default::default(),
            draft: false,
            watch: false,
        },
        true,
    )
    .await
    .unwrap();

    // --json prints the server's answer verbatim.
    let printed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed["id"], "cmp_go");
    assert_eq!(printed["import"]["accepted"], 1);

    let body = &server.received_requests().await.unwrap()[0].body;
    assert!(contains(body, b"name=\"start\"\r\n\r\ntrue\r\n"));
    assert!(contains(body, b"name=\"name\"\r\n\r\nCustom name\r\n"));
    assert!(!contains(body, b"name=\"sender_id\""));
    assert!(!contains(body, b"name=\"priority\""));
}

#[tokio::test]
async fn list_sends_filters_and_prints_table() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns"))
        .and(query_param("status", "running"))
        .and(query_param("limit", "5"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [campaign("cmp_b", "running", 40, 50), campaign("cmp_a", "running", 100, 0)],
            "next_cursor": "abc"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let out = run(
        &server,
        CampaignCommand::List {
            status: Some("running".into()),
            limit: 5,
        },
        false,
    )
    .await
    .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    assert!(lines[0].contains("PROGRESS"), "{out}");
    assert!(lines[1].starts_with("cmp_b"), "{out}");
    assert!(lines[1].contains("60.0%"), "{out}");
    assert!(lines[1].contains("2024-05-01 10:00:00"), "{out}");
    assert!(lines[2].starts_with("cmp_a"), "{out}");
    assert!(out.contains("more campaigns exist"), "{out}");
}

#[tokio::test]
async fn show_prints_details_and_json() {
    let server = MockServer::start().await;
    let mut paused = campaign("cmp_x", "paused", 40, 50);
    paused["paused_reason"] = json!("too_many_failures");
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns/cmp_x"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(paused.clone()))
        .mount(&server)
        .await;

    let out = run(&server, CampaignCommand::Show { id: "cmp_x".into() }, false)
        .await
        .unwrap();
    assert!(out.contains("paused (too_many_failures)"), "{out}");
    assert!(out.contains("60.0% (60 of 100 done)"), "{out}");
    assert!(out.contains("79.6 msg/s, ETA 1m47s"), "{out}");

    let out = run(&server, CampaignCommand::Show { id: "cmp_x".into() }, true)
        .await
        .unwrap();
    let printed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed, paused);
}

#[tokio::test]
async fn retry_posts_include_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/campaigns/cmp_x/retry"))
        .and(body_json(json!({"include_unknown": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(campaign("cmp_x", "running", 10, 90)))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(
        &server,
        CampaignCommand::Retry {
            id: "cmp_x".into(),
            include_unknown: true,
        },
        false,
    )
    .await
    .unwrap();
    assert_eq!(out, "retried campaign cmp_x: now running\n");
}

#[tokio::test]
async fn conflict_becomes_error_with_message_and_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/campaigns/cmp_done/pause"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "error": {"code": "invalid_transition",
                      "message": "cannot pause a completed campaign", "details": []}
        })))
        .expect(2)
        .mount(&server)
        .await;

    // Through the public entry point the binary uses.
    let args = ClientArgs {
        url: server.uri(),
        api_key: Some(KEY.into()),
        json: false,
    };
    let err = run_campaign(&args, CampaignCommand::Pause { id: "cmp_done".into() })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error: cannot pause a completed campaign (invalid_transition, HTTP 409)"
    );

    // And the typed error from the client.
    let err = client(&server)
        .campaign_action("cmp_done", pregon_cli::Action::Pause)
        .await
        .unwrap_err();
    match err {
        ClientError::Api {
            status, code, message, ..
        } => {
            assert_eq!(status, 409);
            assert_eq!(code, "invalid_transition");
            assert_eq!(message, "cannot pause a completed campaign");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_api_key_fails_before_any_request() {
    let server = MockServer::start().await;
    let args = ClientArgs {
        url: server.uri(),
        api_key: None,
        json: false,
    };
    let err = run_campaign(
        &args,
        CampaignCommand::List {
            status: None,
            limit: 50,
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("error:"), "{err}");
    assert!(err.contains("--api-key") && err.contains("PREGON_API_KEY"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn watch_returns_once_completed() {
    let server = MockServer::start().await;
    let mut paused = campaign("cmp_w", "paused", 50, 40);
    paused["paused_reason"] = json!("daily_limit");
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns/cmp_w"))
        .respond_with(ResponseTemplate::new(200).set_body_json(paused))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns/cmp_w"))
        .respond_with(ResponseTemplate::new(200).set_body_json(campaign("cmp_w", "completed", 0, 95)))
        .expect(1)
        .mount(&server)
        .await;

    let out = tokio::time::timeout(
        Duration::from_secs(5),
        run(&server, CampaignCommand::Watch { id: "cmp_w".into() }, false),
    )
    .await
    .expect("watch did not finish")
    .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    // First poll is printed at once, the second is throttled, the final one always.
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("cmp_w paused (daily_limit) 50.0% (50/100)"),
        "{out}"
    );
    assert!(lines[1].starts_with("cmp_w completed 100.0% (100/100)"), "{out}");
    assert_eq!(
        lines[2],
        "campaign cmp_w completed: 95 sent, 5 failed, 0 unknown, 0 skipped, 0 cancelled, 0 expired of 100 in 1m47s"
    );
}

#[tokio::test]
async fn watch_retries_server_errors_then_finishes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns/cmp_r"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns/cmp_r"))
        .respond_with(ResponseTemplate::new(200).set_body_json(campaign("cmp_r", "cancelled", 0, 10)))
        .mount(&server)
        .await;
    let out = run(&server, CampaignCommand::Watch { id: "cmp_r".into() }, false)
        .await
        .unwrap();
    assert!(out.contains("retrying (1)"), "{out}");
    assert!(out.contains("campaign cmp_r cancelled"), "{out}");
}

#[tokio::test]
async fn watch_stops_on_api_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/campaigns/cmp_missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {"code": "not_found", "message": "campaign not found"}
        })))
        .mount(&server)
        .await;
    let err = run(
        &server,
        CampaignCommand::Watch {
            id: "cmp_missing".into(),
        },
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(err, "error: campaign not found (not_found, HTTP 404)");
}

/// The command line the main binary builds from these types.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    cmd: CampaignCommand,
}

#[test]
fn command_line_parses() {
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from([
        "pregon",
        "create",
        "--csv",
        "a.csv",
        "--template",
        "tpl",
        "--draft",
        "--json",
        "--url",
        "http://h:1",
        "--api-key",
        "k",
    ])
    .unwrap();
    assert!(cli.client.json);
    assert_eq!(cli.client.url, "http://h:1");
    assert_eq!(cli.client.api_key.as_deref(), Some("k"));
    assert!(matches!(
        cli.cmd,
        CampaignCommand::Create {
            draft: true,
            watch: false,
            ..
        }
    ));
    assert!(Cli::try_parse_from(["pregon", "list", "--status", "bogus"]).is_err());
}
