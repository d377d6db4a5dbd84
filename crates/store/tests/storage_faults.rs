//! What the store answers when its database cannot take writes: a read-only SQLite file and
//! a read-only PostgreSQL session (SQLSTATE 25006, as a standby answers) give
//! `Unavailable(ReadOnly)` and nothing written, reads carry on, and `readiness` says so.
//! (Full disks and unreachable servers are driven against the real binary in
//! `crates/pregon/tests/storage_faults.rs`.)

mod support;

use pregon_store::*;

async fn read_only_refuses_writes(writable: &SqlStore, read_only: &SqlStore) {
    writable
        .create_tenant("acme", "s", 1)
        .await
        .expect("a writable store writes");
    assert_eq!(writable.readiness(2).await.unwrap(), Readiness::Ready);

    match read_only.create_tenant("other", "s", 3).await {
        Err(StoreError::Unavailable(Unavailability::ReadOnly)) => {}
        other => panic!("a write to a read-only database: {other:?}"),
    }
    assert_eq!(
        read_only.readiness(4).await.unwrap(),
        Readiness::Unavailable(Unavailability::ReadOnly)
    );
    read_only.ping().await.expect("reads carry on");
    // The write after the refused one is not stuck behind it, and the refused one left nothing.
    writable
        .create_tenant("third", "s", 5)
        .await
        .expect("the writable store still writes");
    match writable.create_tenant("other", "s", 6).await {
        Ok(_) => {}
        Err(e) => panic!("the refused tenant was half-written: {e:?}"),
    }
}

#[tokio::test]
async fn sqlite_read_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let writable = SqlStore::connect(&url, 1).await.unwrap();
    writable.migrate().await.unwrap();
    let read_only = SqlStore::connect(&format!("{url}?mode=ro"), 1).await.unwrap();
    read_only_refuses_writes(&writable, &read_only).await;
}

#[tokio::test]
async fn postgres_read_only_session() {
    let Some(db) = support::TestDatabase::create().await else {
        return;
    };
    let writable = SqlStore::connect(&db.url, 2).await.unwrap();
    writable.migrate().await.unwrap();
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let ro_url = format!("{}{sep}options=-c%20default_transaction_read_only%3Don", db.url);
    let read_only = SqlStore::connect(&ro_url, 2).await.unwrap();
    read_only_refuses_writes(&writable, &read_only).await;
}
