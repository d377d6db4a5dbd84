//! What a campaign costs: the rate card (`PUT`/`GET /api/v1/pricing`), the import's
//! `estimated_cost` and the campaign's `cost`, billed from the pricing in Meta's signed
//! status webhooks (once per message, free ones not), against a wiremock Cloud API.

use pregon_providers::signature::sha256_header;
use reqwest::Method;
use serde_json::{json, Value};

use wiremock::MockServer;

use crate::helpers::{spawn_app, TestApp, KEY};

const APP_SECRET: &str = "meta-app-secret";
const PHONE_NUMBER_ID: &str = "1142";
const WABA: &str = "102290129340398";
const T1: i64 = 1_767_225_600;

/// VE marketing 0.0436, CO marketing 0.0125, any country's utility 0.008; no default for
/// marketing.
fn card() -> Value {
    json!({"currency": "USD", "rates": [
        {"country": "VE", "category": "marketing", "price": 0.0436},
        {"country": "CO", "category": "marketing", "price": 0.0125},
        {"country": "*", "category": "utility", "price": 0.008},
    ]})
}

impl TestApp {
    async fn put_pricing(&self, body: &Value) -> crate::helpers::Reply {
        self.call(Method::PUT, "/api/v1/pricing", Some(KEY), Some(body)).await
    }

    async fn priced_meta_sender(&self, server: &MockServer) -> String {
        let s = self
            .create_sender(json!({
                "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
                "credentials": {"access_token": "tok", "phone_number_id": PHONE_NUMBER_ID,
                                "waba_id": WABA, "app_secret": APP_SECRET},
                "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": 1000.0
            }))
            .await;
        s["id"].as_str().unwrap().to_string()
    }

    async fn signed_statuses(&self, list: &[Value]) {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp", "statuses": list,
                      "metadata": {"display_phone_number": "593995683452", "phone_number_id": PHONE_NUMBER_ID}}}]}]})
        .to_string();
        let request = self
            .client
            .post(self.url("/webhooks/meta"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                sha256_header(APP_SECRET.as_bytes(), body.as_bytes()),
            )
            .body(body);
        let reply = self.send(request).await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    }
}

fn status(wamid: &str, status: &str, pricing: Option<Value>) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": T1.to_string(), "recipient_id": "584121001001"});
    if let Some(p) = pricing {
        s["pricing"] = p;
    }
    s
}

fn pricing(category: &str, kind: &str, billable: bool) -> Option<Value> {
    Some(json!({"billable": billable, "pricing_model": "PMP", "category": category, "type": kind}))
}

fn contact(phone: &str) -> Value {
    json!({"phone": phone, "nombre": "Ana", "monto": "1 USD"})
}

#[tokio::test]
async fn a_campaign_is_estimated_by_the_rate_card_and_billed_once_per_charged_message() {
    let app = spawn_app().await;
    let server = crate::helpers::meta_accepting(WABA).await;
    let sender = app.priced_meta_sender(&server).await;
    let template = app.template().await; // marketing, the default

    // Without a rate card: no estimate, and the card is not found.
    app.get("/api/v1/pricing").await.expect_error(404, "not_found");
    let bare = app
        .post(
            "/api/v1/campaigns",
            &json!({"name": "bare", "sender_id": sender, "template_id": template, "status": "draft",
                    "contacts": [contact("+584121000001")]}),
        )
        .await
        .expect(201);
    assert_eq!(bare["import"]["estimated_cost"], Value::Null, "{bare}");

    let stored = app.put_pricing(&card()).await.expect(200);
    assert_eq!(app.get("/api/v1/pricing").await.expect(200), stored);
    assert_eq!(stored["currency"], "USD");
    assert_eq!(stored["rates"].as_array().unwrap().len(), 3);

    // Three Venezuelan, one Colombian, one Spanish (no marketing rate for Spain, no `*`
    // marketing), a duplicate and an invalid phone (skipped: not estimated).
    let phones = [
        "+584121000001",
        "+584121000002",
        "+584121000003",
        "+573001234567",
        "+34612345678",
    ];
    let mut contacts: Vec<Value> = phones.iter().map(|p| contact(p)).collect();
    contacts.push(contact("+584121000001"));
    contacts.push(contact("12"));
    let body = json!({"name": "c", "sender_id": sender, "template_id": template, "contacts": contacts});
    // The CSV dry run (the wizard's validation) says the same as the import.
    let csv: String = std::iter::once("phone,nombre,monto".to_string())
        .chain(
            contacts
                .iter()
                .map(|c| format!("{},Ana,1 USD", c["phone"].as_str().unwrap())),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let dry = app
        .import(
            csv,
            &[
                ("name", "c"),
                ("sender_id", &sender),
                ("template_id", &template),
                ("dry_run", "true"),
            ],
        )
        .await
        .expect(200);
    let created = app.post("/api/v1/campaigns", &body).await.expect(201);
    let expected = json!({"currency": "USD", "amount": 0.1433, "unpriced": 1}); // 3 × 0.0436 + 0.0125
    assert_eq!(created["import"]["accepted"], 5);
    assert_eq!(created["import"]["estimated_cost"], expected, "{created}");
    assert_eq!(dry["import"]["estimated_cost"], expected, "{dry}");
    assert_eq!(created["cost"]["estimated"], 0.1433);
    assert_eq!(created["cost"]["estimated_unpriced"], 1);

    let id = created["id"].as_str().unwrap().to_string();
    app.wait_status(&id, "completed").await;
    let messages = app.messages(&id, Some("sent")).await;
    let wamid = |phone: &str| -> String {
        let m = messages
            .iter()
            .find(|m| m["phone"] == phone)
            .expect("a message to that phone");
        m["provider_message_id"].as_str().unwrap().to_string()
    };
    let reports = vec![
        // Charged marketing to Venezuela, reported with sent and delivered.
        status(&wamid(phones[0]), "sent", pricing("marketing", "regular", true)),
        status(&wamid(phones[0]), "delivered", pricing("marketing", "regular", true)),
        // Free: inside the customer-service window; a free entry point.
        status(
            &wamid(phones[1]),
            "delivered",
            pricing("service", "free_customer_service", false),
        ),
        status(
            &wamid(phones[2]),
            "delivered",
            pricing("marketing", "free_entry_point", false),
        ),
        // Meta billed the Colombian one as utility: the `*` utility rate.
        status(&wamid(phones[3]), "delivered", pricing("utility", "regular", true)),
        // A read carries no pricing.
        status(&wamid(phones[4]), "read", None),
    ];
    app.signed_statuses(&reports).await;
    let cost = app.campaign(&id).await["cost"].clone();
    let billed = json!({"currency": "USD", "estimated": 0.1433, "estimated_unpriced": 1,
                        "billed": 0.0516, "billed_unpriced": 0, "billable_messages": 2}); // 0.0436 + 0.008
    assert_eq!(cost, billed);

    // A new rate card and a replayed webhook rewrite nothing billed, nor the estimate.
    let dearer = json!({"currency": "USD", "rates": [{"country": "*", "category": "marketing", "price": 1},
                                                     {"country": "*", "category": "utility", "price": 1}]});
    app.put_pricing(&dearer).await.expect(200);
    app.signed_statuses(&reports).await;
    assert_eq!(app.campaign(&id).await["cost"], billed);
    // The listing carries it too.
    let list = app.get("/api/v1/campaigns").await.expect(200);
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["cost"], billed);

    // The console's detail page shows both, in each language.
    app.post(
        "/api/v1/users",
        &json!({"email": "vera@example.com", "name": "Vera", "role": "viewer", "password": "una clave muy larga"}),
    )
    .await
    .expect(201);
    let vera = app.session("vera@example.com", "una clave muy larga").await;
    let en = app
        .call_as(Method::GET, &format!("/campaigns/{id}?lang=en"), &vera, None, false)
        .await;
    assert_eq!(en.status.as_u16(), 200);
    for words in [
        "Estimated cost",
        "0.1433 USD · 1 without a rate",
        "Billed",
        "0.0516 USD · 2 billable messages",
    ] {
        assert!(en.text.contains(words), "{words:?} not on the page");
    }
    let es = app
        .call_as(Method::GET, &format!("/campaigns/{id}?lang=es"), &vera, None, false)
        .await;
    for words in [
        "Costo estimado",
        "0,1433 USD · 1 sin tarifa",
        "Facturado",
        "0,0516 USD · 2 mensajes facturables",
    ] {
        assert!(es.text.contains(words), "{words:?} not on the page");
    }

    // Another tenant sees neither the card nor the costs.
    let other = app
        .call(Method::GET, "/api/v1/pricing", Some(crate::helpers::OTHER_KEY), None)
        .await;
    other.expect_error(404, "not_found");
}

#[tokio::test]
async fn a_bad_rate_card_is_refused_whole_and_the_stored_one_stays() {
    let app = spawn_app().await;
    app.put_pricing(&card()).await.expect(200);
    let before = app.get("/api/v1/pricing").await.expect(200);
    let rate = |country: Value, category: Value, price: Value| {
        json!({"currency": "USD", "rates": [{"country": "VE", "category": "utility", "price": 0.01},
                                             {"country": country, "category": category, "price": price}]})
    };
    let many: Vec<Value> = (0..2_001)
        .map(|i| json!({"country": "*", "category": "marketing", "price": i as f64 / 1000.0}))
        .collect();
    let bad = [
        (json!({"currency": "XYZ", "rates": []}), 422),
        (json!({"currency": "usdollar", "rates": []}), 422),
        (json!({"currency": 840, "rates": []}), 422),
        (json!({"rates": []}), 422),
        (json!({"currency": "USD"}), 422),
        (json!({"currency": "USD", "rates": [], "extra": 1}), 422),
        (rate(json!("VEN"), json!("marketing"), json!(0.1)), 422),
        (rate(json!("ZZ"), json!("marketing"), json!(0.1)), 422),
        (rate(json!(""), json!("marketing"), json!(0.1)), 422),
        (rate(json!("CO"), json!("premium"), json!(0.1)), 422),
        (rate(json!("CO"), json!("marketing"), json!(-0.01)), 422),
        (rate(json!("CO"), json!("marketing"), json!(1e300)), 422),
        (rate(json!("CO"), json!("marketing"), json!(0.00000001)), 422),
        (rate(json!("CO"), json!("marketing"), json!("0.1")), 422),
        (rate(json!("ve"), json!("utility"), json!(0.02)), 422), // the same (country, category) twice
        (json!({"currency": "USD", "rates": many}), 422),
        (json!([1, 2]), 422),
    ];
    for (body, code) in bad {
        let reply = app.put_pricing(&body).await;
        assert_eq!(reply.status.as_u16(), code, "{body}: {}", reply.text);
        crate::helpers::assert_error_shape(&reply);
    }
    // Not JSON at all.
    let reply = app
        .send(
            app.request(Method::PUT, "/api/v1/pricing")
                .header("content-type", "application/json")
                .body("{\"currency\": \"USD\", \"rates\": [{"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
    crate::helpers::assert_error_shape(&reply);
    assert_eq!(app.get("/api/v1/pricing").await.expect(200), before, "unchanged");
    // Case is forgiven, and an empty card is a card.
    let lower = app
        .put_pricing(&json!({"currency": "eur", "rates": [{"country": "ve", "category": "MARKETING", "price": 0}]}))
        .await
        .expect(200);
    assert_eq!(
        lower,
        json!({"currency": "EUR", "rates": [{"country": "VE", "category": "marketing", "price": 0.0}]})
    );
}

/// End to end through `pregon simulate`: its statuses carry pricing in the template's
/// category, free for the recipients `--free-numbers` names.
#[tokio::test]
async fn the_simulator_bills_what_it_charges_and_not_its_free_numbers() {
    let app = spawn_app().await;
    let phones = crate::helpers::phones(6);
    let mut config = crate::helpers::simulated_meta(&app);
    config.webhooks.delivered_fraction = 1.0;
    config.webhooks.read_fraction = 1.0;
    config.free_numbers = [
        (crate::helpers::digits(&phones[0]), "free_customer_service"),
        (crate::helpers::digits(&phones[1]), "free_entry_point"),
    ]
    .into();
    let (addr, _simulator) = pregon_simulator::Simulator::start(config).await.unwrap();
    let sender = app
        .simulated_meta_sender(addr, json!({"messages_per_second": 100}))
        .await;
    app.put_pricing(&card()).await.expect(200);
    let template = app.template().await;
    let created = app
        .create_campaign(
            json!({"name": "sim", "sender_id": sender["id"], "template_id": template,
                                "contacts": crate::helpers::contacts(&phones)}),
        )
        .await;
    assert_eq!(
        created["import"]["estimated_cost"],
        json!({"currency": "USD", "amount": 0.2616, "unpriced": 0})
    );
    let id = created["id"].as_str().unwrap().to_string();
    let done = app
        .wait_campaign(&id, "every message read and priced", |c| {
            crate::helpers::counts(c)["read"] == 6 && c["cost"]["billable_messages"] == 4
        })
        .await;
    assert_eq!(
        done["cost"],
        json!({"currency": "USD", "estimated": 0.2616, "estimated_unpriced": 0,
               "billed": 0.1744, "billed_unpriced": 0, "billable_messages": 4})
    );
}
