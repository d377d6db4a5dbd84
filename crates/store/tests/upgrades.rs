//! Upgrading a database that already holds work: the migrations after a version keep every
//! row the earlier schema held. Each test migrates a fresh database up to just before the
//! migration under test, writes rows the way that schema took them, then opens the store
//! (which applies the rest) and reads them back through it.

mod support;

use std::borrow::Cow;

use pregon_domain::MessageStatus;
use pregon_store::*;
use sqlx::migrate::Migrator;

/// The expiry migration, which rebuilds SQLite's `message` (and `message_event`) table.
const EXPIRY: i64 = 20261201000009;

fn before(mut m: Migrator, version: i64) -> Migrator {
    m.migrations = Cow::Owned(m.migrations.iter().filter(|x| x.version < version).cloned().collect());
    m
}

/// Rows of a running campaign with three messages, one sent with two events, written as the
/// schema before [`EXPIRY`] took them (`$n` placeholders work in both databases).
const ROWS: &[&str] = &[
    "insert into tenant (tenant_id, name, webhook_secret, created_at) values ('ten_1', 'acme', 's', 1)",
    "insert into sender (sender_id, tenant_id, name, provider, phone_number, credentials, messages_per_second, \
     created_at, updated_at) values ('snd_1', 'ten_1', 's', 'sandbox', '+15555550100', $1, 10, 1, 1)",
    "insert into template (template_id, tenant_id, name, language, body, created_at) \
     values ('tpl_1', 'ten_1', 't', 'es', 'Hola', 1)",
    "insert into campaign (campaign_id, tenant_id, name, sender_id, template_id, status, n_queued, n_sent, \
     created_at, updated_at) values ('cmp_1', 'ten_1', 'c', 'snd_1', 'tpl_1', 'running', 2, 1, 1, 1)",
    "insert into message (tenant_id, campaign_id, sender_id, template_id, phone, status, provider_message_id, \
     created_at, updated_at) values ('ten_1', 'cmp_1', 'snd_1', 'tpl_1', '+584120000001', 'sent', 'wamid.1', 1, 1)",
    "insert into message (tenant_id, campaign_id, sender_id, template_id, phone, status, created_at, updated_at) \
     values ('ten_1', 'cmp_1', 'snd_1', 'tpl_1', '+584120000002', 'queued', 1, 1)",
    "insert into message (tenant_id, campaign_id, sender_id, template_id, phone, status, created_at, updated_at) \
     values ('ten_1', 'cmp_1', 'snd_1', 'tpl_1', '+584120000003', 'queued', 1, 1)",
    "insert into message_event (message_id, status, at) select message_id, 'sending', 2 from message where phone = '+584120000001'",
    "insert into message_event (message_id, status, detail, at, provider_key) select message_id, 'sent', '{}', 3, 'k1' \
     from message where phone = '+584120000001'",
];

async fn check_upgraded(url: &str) {
    let store = pregon_store::open(url).await.expect("the rest of the migrations apply");
    let c = store.campaign_by_id("cmp_1").await.unwrap();
    assert_eq!((c.counts.queued, c.counts.sent, c.counts.expired), (2, 1, 0));
    assert_eq!(c.expires_at, None);
    let page = PageRequest {
        limit: 10,
        cursor: None,
    };
    let messages = store.list_messages("ten_1", "cmp_1", None, &page).await.unwrap().items;
    assert_eq!(messages.len(), 3);
    let sent = messages
        .iter()
        .find(|m| m.status == MessageStatus::Sent)
        .expect("the sent message");
    assert_eq!(sent.provider_message_id.as_deref(), Some("wamid.1"));
    let events = store.message_events(sent.id).await.unwrap();
    let statuses: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["sending", "sent"], "the events survive the rebuild");
    // The new state is taken.
    assert_eq!(
        store.expire_due(i64::MAX - 1, 10).await.unwrap(),
        0,
        "no expiry was set"
    );
}

#[tokio::test]
async fn sqlite_keeps_messages_and_their_events_through_the_expiry_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db", dir.path().display());
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .unwrap()
                    .create_if_missing(true)
                    .foreign_keys(true),
            )
            .await
            .unwrap();
        before(sqlx::migrate!("./migrations/sqlite"), EXPIRY)
            .run(&pool)
            .await
            .unwrap();
        for row in ROWS {
            sqlx::query(row).bind(vec![1u8, 2, 3]).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    check_upgraded(&url).await;
}

#[tokio::test]
async fn postgres_keeps_messages_and_their_events_through_the_expiry_migration() {
    let Some(db) = support::TestDatabase::create().await else {
        return;
    };
    {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap();
        before(sqlx::migrate!("./migrations/postgres"), EXPIRY)
            .run(&pool)
            .await
            .unwrap();
        for row in ROWS {
            let q = sqlx::query(row);
            let q = if row.contains("$1") { q.bind(vec![1u8, 2, 3]) } else { q };
            q.execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    check_upgraded(&db.url).await;
}

/// A database behind this build is not ready until it is migrated; then a write proves it.
async fn check_readiness(url: &str, known: &Migrator) {
    let store = SqlStore::connect(url, 2).await.unwrap();
    let all: Vec<i64> = known.iter().map(|m| m.version).collect();
    match store.readiness(1).await.unwrap() {
        Readiness::MigrationsPending(pending) => assert_eq!(pending, all, "an empty database lacks them all"),
        other => panic!("an unmigrated database is not ready: {other:?}"),
    }
    store.migrate().await.unwrap();
    assert_eq!(store.readiness(2).await.unwrap(), Readiness::Ready);
    assert_eq!(
        store.readiness(3).await.unwrap(),
        Readiness::Ready,
        "the probe is one row, rewritten"
    );
}

#[tokio::test]
async fn sqlite_is_ready_once_migrated_and_backs_up_a_consistent_copy_while_writes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/live.db", dir.path().display());
    check_readiness(&url, &sqlx::migrate!("./migrations/sqlite")).await;
    let store = pregon_store::open(&url).await.unwrap();
    let tenant = store.create_tenant("acme", "secret", 1).await.unwrap();
    // Writers keep going while the copy is made; the copy is one moment of the database.
    let writer = {
        let store = store.clone();
        let tenant = tenant.id.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                store
                    .add_opt_out(
                        &tenant,
                        &format!("+58412{i:07}"),
                        None,
                        "api",
                        pregon_domain::OptOutScope::All,
                        10 + i,
                        &Change::by(Actor::cli("test")),
                    )
                    .await
                    .unwrap();
            }
        })
    };
    let copy = dir.path().join("copy.db");
    store.backup_to(copy.to_str().unwrap()).await.unwrap();
    writer.await.unwrap();
    let copied = pregon_store::open(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    assert_eq!(
        copied.readiness(5).await.unwrap(),
        Readiness::Ready,
        "the copy is a whole database"
    );
    let page = PageRequest {
        limit: 200,
        cursor: None,
    };
    let mut phones = Vec::new();
    let mut cursor = None;
    loop {
        let p = copied
            .list_opt_outs(&tenant.id, None, &PageRequest { cursor, ..page.clone() })
            .await
            .unwrap();
        phones.extend(p.items.into_iter().map(|o| o.phone));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // A prefix of the writes, with no gap: the copy is consistent.
    let expected: Vec<String> = (0..phones.len()).map(|i| format!("+58412{i:07}")).collect();
    assert_eq!(phones, expected);
    assert!(
        store.backup_to(copy.to_str().unwrap()).await.is_err(),
        "an existing file is never overwritten"
    );
}

#[tokio::test]
async fn postgres_is_ready_once_migrated_and_leaves_backups_to_pg_dump() {
    let Some(db) = support::TestDatabase::create().await else {
        return;
    };
    check_readiness(&db.url, &sqlx::migrate!("./migrations/postgres")).await;
    let store = SqlStore::connect(&db.url, 2).await.unwrap();
    assert!(matches!(
        store.backup_to("/tmp/never.db").await,
        Err(StoreError::Unsupported(_))
    ));
}
