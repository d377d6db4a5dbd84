//! Campaigns from JSON and CSV: the import report, states at creation, lists and paging,
//! messages, the CSV export and the event stream.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::helpers::{
    assert_total_is_sum, contacts, counts, ids, next_millisecond, phones, spawn_app, TestApp, DEADLINE,
};

/// The CSV of seed 003, byte for byte.
const SEED_CSV: &str = "numero,cedula,estatus_servicio,variable1,variable2,url_imagen
584121234567,12345678,ACTIVO,Juan Pérez,25.00 USD,https://ejemplo.com/img1.jpg
584129876543,87654321,SUSPENDIDO,María López,30.00 USD,
";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

fn by_phone<'a>(messages: &'a [Value], phone: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["phone"] == phone)
        .unwrap_or_else(|| panic!("no message to {phone}: {messages:?}"))
}

#[tokio::test]
async fn json_contacts_are_classified_and_reported() {
    let app = spawn_app().await;
    let template = app.template().await;
    app.post("/api/v1/opt-outs", &json!({"phone": "+584120000777", "reason": "BAJA"}))
        .await
        .expect(201);
    let created = app
        .create_campaign(json!({
            "name": "promo_enero_2026", "template_id": template, "default_region": "VE", "priority": 7, "start": false,
            "contacts": [
                {"phone": "+584121234567", "nombre": "Juan", "monto": "25.00 USD"},
                {"numero": "584129876543", "nombre": "María", "monto": "30.00 USD"},
                {"telefono": "0412 555 1234", "nombre": "Nacional", "monto": "1"},
                {"to": "not-a-phone", "nombre": "X", "monto": "1"},
                {"number": "+58 412-123-4567", "nombre": "Juan otra vez", "monto": "1"},
                {"phone": "+584120000777", "nombre": "Se dio de baja", "monto": "1"},
                {"phone": "+584121112233", "nombre": "Sin monto"},
                {"nombre": "Sin teléfono", "monto": "1"},
                {"phone": "+584121112244", "nombre": "Número", "monto": 12.5, "vip": true}
            ]
        }))
        .await;
    assert_eq!(created["status"], "draft");
    assert_eq!(created["priority"], 7);
    assert_eq!(
        created["import"],
        json!({"accepted": 4,
               "skipped": {"invalid_phone": 2, "duplicate": 1, "opted_out": 1, "missing_variable": 1},
               "errors": created["import"]["errors"].clone(), "estimated_cost": null})
    );
    let rows: Vec<i64> = created["import"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, vec![4, 5, 6, 7, 8], "{created}");
    for e in created["import"]["errors"].as_array().unwrap() {
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
    }
    assert!(created["import"]["errors"][3]["reason"]
        .as_str()
        .unwrap()
        .contains("monto"));

    let c = app.campaign(&id(&created)).await;
    assert_eq!(c["total"], 9, "every contact received is counted: {c}");
    assert_eq!(counts(&c)["queued"], 4);
    assert_eq!(counts(&c)["skipped"], 5);
    assert_eq!(
        c["progress_percent"].as_f64(),
        Some(55.6),
        "5 of 9 are finished (skipped)"
    );

    let messages = app.messages(&id(&created), None).await;
    assert_eq!(messages.len(), 9);
    for (phone, status, reason) in [
        ("+584121234567", "queued", Value::Null),
        ("+584129876543", "queued", Value::Null),
        ("+584125551234", "queued", Value::Null),
        ("+584121112244", "queued", Value::Null),
        ("+584120000777", "skipped", json!("opted_out")),
        ("+584121112233", "skipped", json!("missing_variable")),
    ] {
        let m = by_phone(&messages, phone);
        assert_eq!(m["status"], status, "{m}");
        assert_eq!(m["skip_reason"], reason, "{m}");
    }
    let skipped = app.messages(&id(&created), Some("skipped")).await;
    let mut reasons: Vec<&str> = skipped.iter().map(|m| m["skip_reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "duplicate",
            "invalid_phone",
            "invalid_phone",
            "missing_variable",
            "opted_out"
        ]
    );
    let numeric = by_phone(&messages, "+584121112244");
    assert_eq!(numeric["variables"]["monto"], "12.5");
    assert_eq!(numeric["variables"]["vip"], "true");
    assert_eq!(numeric["campaign_id"], id(&created).as_str());
}

#[tokio::test]
async fn the_seed_csv_imports_as_it_is() {
    let app = spawn_app().await;
    let plain = app
        .create_template(json!({"name": "deuda", "language": "es", "body": "Hola {{variable1}}, debes {{variable2}}"}))
        .await;
    let reply = app
        .import(
            SEED_CSV,
            &[("name", "seed 003"), ("template_id", plain["id"].as_str().unwrap())],
        )
        .await;
    let created = reply.expect(201);
    assert_total_is_sum(&created);
    assert_eq!(created["import"]["accepted"], 2, "{created}");
    assert_eq!(created["import"]["errors"], json!([]));
    assert_eq!(created["total"], 2);
    let done = app.wait_status(&id(&created), "completed").await;
    assert_eq!(counts(&done)["sent"], 2);
    let messages = app.messages(&id(&created), None).await;
    let juan = by_phone(&messages, "+584121234567");
    assert_eq!(juan["status"], "sent");
    assert_eq!(juan["variables"]["variable1"], "Juan Pérez");
    assert_eq!(juan["variables"]["cedula"], "12345678");
    assert_eq!(juan["variables"]["estatus_servicio"], "ACTIVO");
    assert_eq!(juan["variables"]["url_imagen"], "https://ejemplo.com/img1.jpg");
    assert_eq!(
        by_phone(&messages, "+584129876543")["variables"]["variable2"],
        "30.00 USD"
    );

    // With the image header, the row without an image cannot be sent.
    let visual = app
        .create_template(json!({"name": "deuda_visual", "language": "es",
            "body": "Hola {{variable1}}, debes {{variable2}}", "header_image": "{{url_imagen}}"}))
        .await;
    let created = app
        .import(
            SEED_CSV,
            &[
                ("name", "seed 003 visual"),
                ("template_id", visual["id"].as_str().unwrap()),
                ("start", "false"),
            ],
        )
        .await
        .expect(201);
    assert_eq!(created["status"], "draft");
    assert_eq!(created["import"]["accepted"], 1);
    assert_eq!(created["import"]["skipped"]["missing_variable"], 1);
    assert_eq!(created["import"]["errors"][0]["row"], 3);
    assert!(created["import"]["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("url_imagen"));
}

#[tokio::test]
async fn csv_with_semicolons_bom_quotes_and_crlf() {
    let app = spawn_app().await;
    let template = app
        .create_template(json!({"name": "t", "language": "es", "body": "Hola {{Nombre}}, son {{monto}}"}))
        .await;
    let csv = "\u{feff}Teléfono;Nombre;monto\r\n\"+58 412-123-4567\";\"Pérez; Juan\";\"1,50 USD\"\r\n\
               +584129876543;\"Ana \"\"La Jefa\"\"\";2\r\n\r\nnope;x;3\r\n";
    let created = app
        .import(
            csv,
            &[
                ("name", "bom"),
                ("template_id", template["id"].as_str().unwrap()),
                ("start", "false"),
            ],
        )
        .await
        .expect(201);
    assert_eq!(created["import"]["accepted"], 2, "{created}");
    assert_eq!(created["import"]["skipped"]["invalid_phone"], 1, "{created}");
    assert_eq!(
        created["import"]["errors"][0]["row"], 5,
        "rows as a spreadsheet shows them, the blank one counted: {created}"
    );
    let messages = app.messages(&id(&created), None).await;
    let juan = by_phone(&messages, "+584121234567");
    assert_eq!(juan["variables"]["Nombre"], "Pérez; Juan");
    assert_eq!(juan["variables"]["monto"], "1,50 USD");
    assert_eq!(
        by_phone(&messages, "+584129876543")["variables"]["Nombre"],
        "Ana \"La Jefa\""
    );
}

#[tokio::test]
async fn csv_report_counts_every_reason_with_spreadsheet_rows() {
    let app = spawn_app().await;
    let template = app.template().await;
    app.post("/api/v1/opt-outs", &json!({"phone": "+58 412 000 0777"}))
        .await
        .expect(201);
    let csv = "phone,nombre,monto\n\
               +584121234567,a,1\n\
               nope,b,2\n\
               +584121234567,c,3\n\
               +584120000777,d,4\n\
               +584125550000,e,\n\
               \n\
               12,g,7\n\
               +584125550001,h,8\n";
    let created = app
        .import(
            csv,
            &[("name", "report"), ("template_id", &template), ("start", "false")],
        )
        .await
        .expect(201);
    assert_eq!(
        created["import"]["skipped"],
        json!({"invalid_phone": 2, "duplicate": 1, "opted_out": 1, "missing_variable": 1})
    );
    assert_eq!(created["import"]["accepted"], 2);
    let rows: Vec<i64> = created["import"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, vec![3, 4, 5, 6, 8], "{created}");
    let c = app.campaign(&id(&created)).await;
    assert_eq!(c["total"], 7);
    assert_eq!(counts(&c)["skipped"], 5);
    assert_eq!(counts(&c)["queued"], 2);
}

#[tokio::test]
async fn csv_import_options() {
    let app = spawn_app().await;
    let template = app.template().await;
    let sender = id(&app.create_sender(json!({"name": "Otra", "provider": "sandbox"})).await);
    let csv = "movil2,numero_cliente,nombre,monto\n099 568 3452,77,Ana,1\n0991234567,78,Bo,2\n";
    let created = app
        .import(
            csv,
            &[
                ("name", "  opciones  "),
                ("template_id", &template),
                ("sender_id", &sender),
                ("phone_column", "movil2"),
                ("default_region", "EC"),
                ("priority", "9"),
                ("start", "false"),
            ],
        )
        .await
        .expect(201);
    let c = app.campaign(&id(&created)).await;
    assert_eq!(c["name"], "opciones");
    assert_eq!(c["status"], "draft");
    assert_eq!(c["priority"], 9);
    assert_eq!(c["sender_id"], sender.as_str());
    assert_eq!(c["template_id"], template.as_str());
    let messages = app.messages(&id(&created), None).await;
    let ana = by_phone(&messages, "+593995683452");
    assert_eq!(ana["status"], "queued");
    assert_eq!(
        ana["variables"]["numero_cliente"], "77",
        "a non-phone column named like one is a variable"
    );
    by_phone(&messages, "+593991234567");
}

#[tokio::test]
async fn a_draft_starts_on_request() {
    let app = spawn_app().await;
    let template = app.template().await;
    let created = app
        .create_campaign(
            json!({"name": "draft", "template_id": template, "contacts": contacts(&phones(3)), "start": false}),
        )
        .await;
    let cid = id(&created);
    assert_eq!(created["status"], "draft");
    assert_eq!(created["started_at"], Value::Null);
    // The dispatcher leaves a draft alone.
    crate::helpers::eventually("the dispatcher to run", || async {
        let s = app.get("/api/v1/system").await.expect(200);
        (s["dispatchers"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    let c = app.campaign(&cid).await;
    assert_eq!(c["status"], "draft");
    assert_eq!(counts(&c)["queued"], 3);
    assert_eq!(c["progress_percent"].as_f64(), Some(0.0));

    let started = app
        .post_empty(&format!("/api/v1/campaigns/{cid}/start"))
        .await
        .expect(200);
    assert!(
        ["running", "completed"].contains(&started["status"].as_str().unwrap()),
        "{started}"
    );
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 3);
    assert_eq!(done["progress_percent"].as_f64(), Some(100.0));
    assert!(
        done["started_at"].is_string() && done["completed_at"].is_string(),
        "{done}"
    );
    assert!(done["last_sent_at"].is_string(), "{done}");
    for m in app.messages(&cid, None).await {
        assert_eq!(m["status"], "sent", "{m}");
        assert_eq!(m["attempts"], 1);
        assert!(m["sent_at"].is_string());
        assert!(
            m["provider_message_id"].as_str().unwrap().starts_with("sandbox."),
            "{m}"
        );
    }
}

#[tokio::test]
async fn schedule_start_at_in_the_future_is_scheduled() {
    let app = spawn_app().await;
    let template = app.template().await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = app
        .create_campaign(
            json!({"name": "later", "template_id": template, "contacts": contacts(&phones(2)),
            "schedule": {"start_at": later}}),
        )
        .await;
    let cid = id(&created);
    assert_eq!(created["status"], "scheduled");
    let c = app.campaign(&cid).await;
    assert_eq!(c["status"], "scheduled");
    assert!(c["start_at"].is_string());
    assert_eq!(c["started_at"], Value::Null);
    assert_eq!(counts(&c)["queued"], 2);
    app.post_empty(&format!("/api/v1/campaigns/{cid}/start"))
        .await
        .expect_error(409, "illegal_transition");
    // Pausing and resuming a scheduled campaign does not start it before its time.
    let paused = app
        .post_empty(&format!("/api/v1/campaigns/{cid}/pause"))
        .await
        .expect(200);
    assert_eq!(paused["status"], "paused");
    let resumed = app
        .post_empty(&format!("/api/v1/campaigns/{cid}/resume"))
        .await
        .expect(200);
    assert_eq!(resumed["status"], "scheduled");

    // A draft with a future start becomes scheduled when started.
    let draft = app
        .create_campaign(
            json!({"name": "later draft", "template_id": template, "contacts": contacts(&phones(1)),
            "schedule": {"start_at": later}, "start": false}),
        )
        .await;
    assert_eq!(draft["status"], "draft");
    let started = app
        .post_empty(&format!("/api/v1/campaigns/{}/start", id(&draft)))
        .await
        .expect(200);
    assert_eq!(started["status"], "scheduled");

    // A start time in the past starts at once.
    let past = app
        .create_campaign(
            json!({"name": "past", "template_id": template, "contacts": contacts(&phones(1)),
            "schedule": {"start_at": "2020-01-01T00:00:00Z"}}),
        )
        .await;
    assert_ne!(past["status"], "scheduled");
    app.wait_status(&id(&past), "completed").await;

    // A start time a moment away: the dispatcher starts it when due.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(700)).to_rfc3339();
    let soon = app
        .create_campaign(
            json!({"name": "soon", "template_id": template, "contacts": contacts(&phones(2)),
            "schedule": {"start_at": soon}}),
        )
        .await;
    assert_eq!(soon["status"], "scheduled");
    let done = app.wait_status(&id(&soon), "completed").await;
    assert_eq!(counts(&done)["sent"], 2);
    assert_eq!(
        app.campaign(&cid).await["status"],
        "scheduled",
        "the one an hour away waits"
    );
}

#[tokio::test]
async fn a_campaign_of_only_skipped_contacts_is_complete_at_once() {
    let app = spawn_app().await;
    let template = app.template().await;
    let created = app
        .create_campaign(json!({"name": "nada", "template_id": template,
            "contacts": [{"phone": "x", "nombre": "a", "monto": "1"}, {"phone": "+584121234567"}]}))
        .await;
    assert_eq!(created["import"]["accepted"], 0);
    let c = app.campaign(&id(&created)).await;
    assert_eq!(c["status"], "completed");
    assert_eq!(c["total"], 2);
    assert_eq!(c["progress_percent"].as_f64(), Some(100.0));
}

async fn new_campaign(app: &TestApp, template: &str, name: &str, start: bool) -> String {
    next_millisecond().await;
    id(&app
        .create_campaign(
            json!({"name": name, "template_id": template, "contacts": contacts(&phones(1)), "start": start}),
        )
        .await)
}

#[tokio::test]
async fn list_is_newest_first_filtered_and_paged() {
    let app = spawn_app().await;
    let template = app.template().await;
    let a = new_campaign(&app, &template, "a", false).await;
    let b = new_campaign(&app, &template, "b", true).await;
    let c = new_campaign(&app, &template, "c", false).await;
    app.wait_status(&b, "completed").await;

    assert_eq!(app.campaign_ids("").await, vec![c.clone(), b.clone(), a.clone()]);
    assert_eq!(app.campaign_ids("?status=draft").await, vec![c.clone(), a.clone()]);
    assert_eq!(app.campaign_ids("?status=completed").await, vec![b.clone()]);
    assert_eq!(app.campaign_ids("?status=running").await, Vec::<String>::new());

    let first = app.get("/api/v1/campaigns?limit=2").await.expect(200);
    assert_eq!(ids(&first), vec![c.clone(), b.clone()]);
    for item in first["items"].as_array().unwrap() {
        assert_total_is_sum(item);
    }
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let second = app
        .get(&format!("/api/v1/campaigns?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&second), vec![a.clone()]);
    assert_eq!(second["next_cursor"], Value::Null);

    let page = app.get("/api/v1/campaigns?status=draft&limit=1").await.expect(200);
    assert_eq!(ids(&page), vec![c.clone()]);
    let cursor = page["next_cursor"].as_str().expect("a next cursor");
    let page = app
        .get(&format!("/api/v1/campaigns?status=draft&limit=1&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&page), vec![a.clone()]);

    app.get("/api/v1/campaigns?status=finished")
        .await
        .expect_error(400, "invalid_query");
}

#[tokio::test]
async fn messages_page_and_filter() {
    let app = spawn_app().await;
    let template = app.template().await;
    let mut list = contacts(&phones(5));
    list.push(json!({"phone": "bad", "nombre": "x", "monto": "1"}));
    list.push(json!({"phone": "+1", "nombre": "y", "monto": "1"}));
    let created = app
        .create_campaign(json!({"name": "p", "template_id": template, "contacts": list, "start": false}))
        .await;
    let cid = id(&created);

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/api/v1/campaigns/{cid}/messages?limit=3"),
            Some(c) => format!("/api/v1/campaigns/{cid}/messages?limit=3&cursor={c}"),
        };
        let page = app.get(&path).await.expect(200);
        let items = page["items"].as_array().unwrap().clone();
        sizes.push(items.len());
        for m in &items {
            for field in [
                "id",
                "campaign_id",
                "phone",
                "status",
                "attempts",
                "provider_message_id",
                "error_code",
                "error_message",
                "variables",
                "created_at",
                "sent_at",
                "delivered_at",
                "read_at",
                "next_attempt_at",
            ] {
                assert!(m.get(field).is_some(), "message lacks {field}: {m}");
            }
            seen.push(m["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "every message exactly once: {seen:?}");

    assert_eq!(app.messages(&cid, Some("skipped")).await.len(), 2);
    assert_eq!(app.messages(&cid, Some("queued")).await.len(), 5);
    assert_eq!(app.messages(&cid, Some("failed")).await.len(), 0);
    let page = app
        .get(&format!("/api/v1/campaigns/{cid}/messages?status=queued&limit=2"))
        .await
        .expect(200);
    assert_eq!(ids(&page).len(), 2);
    assert!(page["next_cursor"].is_string());

    app.get(&format!("/api/v1/campaigns/{cid}/messages?status=lost"))
        .await
        .expect_error(400, "invalid_query");
    app.get(&format!("/api/v1/campaigns/{cid}/messages?cursor=abc"))
        .await
        .expect_error(400, "invalid_query");
    app.get("/api/v1/campaigns/cmp_nope/messages")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn messages_csv_exports_every_message() {
    let app = spawn_app().await;
    let template = app.template().await;
    let mut list = contacts(&phones(3));
    list.push(json!({"phone": "invalid", "nombre": "x", "monto": "1"}));
    let created = app
        .create_campaign(json!({"name": "csv", "template_id": template, "contacts": list}))
        .await;
    let cid = id(&created);
    app.wait_status(&cid, "completed").await;

    let reply = app.get(&format!("/api/v1/campaigns/{cid}/messages.csv")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.content_type().starts_with("text/csv"), "{}", reply.content_type());
    let mut reader = csv::Reader::from_reader(reply.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header[..9],
        [
            "phone",
            "status",
            "attempts",
            "provider_message_id",
            "error_code",
            "error_message",
            "sent_at",
            "delivered_at",
            "read_at"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4);
    for phone in phones(3) {
        let row = rows.iter().find(|r| r[0] == *phone).expect("a row per phone");
        assert_eq!(&row[1], "sent");
        assert_eq!(&row[2], "1");
        assert!(row[3].starts_with("sandbox."), "{row:?}");
        assert!(chrono::DateTime::parse_from_rfc3339(&row[6]).is_ok(), "{row:?}");
        assert_eq!(&row[7], "");
    }
    let skipped = rows.iter().find(|r| &r[0] == "invalid").expect("the skipped row");
    assert_eq!(&skipped[1], "skipped");
    assert_eq!(&skipped[6], "");

    app.get("/api/v1/campaigns/cmp_nope/messages.csv")
        .await
        .expect_error(404, "not_found");
}

/// A campaign's server-sent event stream, read one `progress` event at a time.
struct Progress {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Progress {
    async fn open(app: &TestApp, cid: &str) -> Progress {
        let response = app
            .request(reqwest::Method::GET, &format!("/api/v1/campaigns/{cid}/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Progress {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next `progress` event's campaign, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Value> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if name.as_deref() == Some("progress") {
                    let campaign: Value =
                        serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad event data ({e}): {data}"));
                    assert_total_is_sum(&campaign);
                    return Some(campaign);
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(remaining.max(Duration::from_millis(1)), self.stream.next())
                .await
                .expect("no progress event in time")?
                .expect("a readable stream");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until a `completed` campaign; returns every event read.
    async fn until_completed(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let Some(c) = self.next().await else {
                panic!("the stream ended before the campaign completed: {events:?}");
            };
            let completed = c["status"] == "completed";
            events.push(c);
            if completed {
                return events;
            }
        }
    }
}

#[tokio::test]
async fn events_stream_progress_until_completed() {
    let app = spawn_app().await;
    let template = app.template().await;
    let created = app
        .create_campaign(
            json!({"name": "sse", "template_id": template, "contacts": contacts(&phones(4)), "start": false}),
        )
        .await;
    let cid = id(&created);
    let mut progress = Progress::open(&app, &cid).await;
    let first = progress.next().await.expect("a first event");
    assert_eq!(first["status"], "draft", "the first event is the current state");
    assert_eq!(first["id"], cid.as_str());

    app.post_empty(&format!("/api/v1/campaigns/{cid}/start"))
        .await
        .expect(200);
    let events = progress.until_completed().await;
    let last = events.last().unwrap();
    assert_eq!(last["id"], cid.as_str());
    assert_eq!(last["counts"]["sent"], 4);
    assert_eq!(last["progress_percent"].as_f64(), Some(100.0));
    assert!(progress.next().await.is_none(), "the stream ends with the campaign");

    // A finished campaign's stream gives its state and ends.
    let mut again = Progress::open(&app, &cid).await;
    assert_eq!(again.until_completed().await.len(), 1);
    assert!(again.next().await.is_none());
    app.get("/api/v1/campaigns/cmp_nope/events")
        .await
        .expect_error(404, "not_found");
}
