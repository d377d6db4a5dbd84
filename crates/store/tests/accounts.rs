//! Conformance of the accounts aggregates on every store: users and the last owner,
//! sessions and their expiry, failed sign-ins, API keys, the audit log written with each
//! change, idempotency keys, and their retention.

mod support;

use std::any::Any;
use std::sync::Arc;

use pregon_domain::{ActorKind, AuditAction, Role};
use pregon_store::*;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

struct Fixture {
    store: Arc<dyn Store>,
    tenant: String,
    _keep: Box<dyn Any>,
}

async fn fixture(store: Arc<dyn Store>, keep: Box<dyn Any>) -> Fixture {
    let tenant = store.create_tenant("acme", "secret", T0).await.unwrap().id;
    Fixture {
        store,
        tenant,
        _keep: keep,
    }
}

fn cli() -> Change {
    Change::by(Actor::cli("root"))
}

fn page(limit: i64) -> PageRequest {
    PageRequest { limit, cursor: None }
}

impl Fixture {
    fn new_user(&self, email: &str, role: Role) -> NewUser {
        NewUser {
            id: pregon_domain::id::new_id("usr"),
            tenant_id: self.tenant.clone(),
            email: email.into(),
            name: email.split('@').next().unwrap_or_default().into(),
            role,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            now: T0,
        }
    }

    async fn user(&self, email: &str, role: Role) -> UserRecord {
        self.store
            .create_user(&self.new_user(email, role), &cli())
            .await
            .unwrap()
    }

    async fn actions(&self) -> Vec<AuditAction> {
        let rows = self
            .store
            .list_audit(&self.tenant, &AuditFilter::default(), &page(200))
            .await
            .unwrap();
        rows.items.into_iter().map(|a| a.action).collect()
    }

    fn key_request(&self, key: &str, body: &str) -> KeyRequest {
        KeyRequest {
            tenant_id: self.tenant.clone(),
            key: key.into(),
            method: "POST".into(),
            path: "/api/v1/users".into(),
            request_hash: body.into(),
            lock_ms: 10 * MINUTE,
        }
    }
}

macro_rules! accounts {
    ($factory:ident) => {
        #[tokio::test]
        async fn users_have_unique_emails_roles_and_always_an_owner() {
            let Some(f) = $factory().await else { return };
            let owner = f.user("ana@example.com", Role::Owner).await;
            let op = f.user("luis@example.com", Role::Operator).await;
            assert_eq!((owner.role, op.role), (Role::Owner, Role::Operator));
            assert!(matches!(
                f.store.create_user(&f.new_user("ana@example.com", Role::Viewer), &cli()).await,
                Err(StoreError::Conflict {
                    constraint: Constraint::UserEmail
                })
            ));
            let first = f.store.list_users(&f.tenant, &page(1)).await.unwrap();
            let second = f
                .store
                .list_users(
                    &f.tenant,
                    &PageRequest {
                        limit: 1,
                        cursor: first.next_cursor.clone(),
                    },
                )
                .await
                .unwrap();
            let mut listed: Vec<String> = first.items.iter().chain(&second.items).map(|u| u.id.clone()).collect();
            listed.sort();
            let mut expected = vec![owner.id.clone(), op.id.clone()];
            expected.sort();
            assert_eq!(listed, expected);
            assert!(second.next_cursor.is_none());

            // Another tenant sees none of them.
            let other = f.store.create_tenant("other", "s", T0).await.unwrap();
            assert!(matches!(f.store.get_user(&other.id, &owner.id).await, Err(StoreError::NotFound)));
            assert!(f.store.list_users(&other.id, &page(10)).await.unwrap().items.is_empty());

            // The last owner stays an owner, and stays.
            let demote = UserPatch {
                role: Some(Role::Admin),
                ..UserPatch::default()
            };
            assert!(matches!(
                f.store.update_user(&f.tenant, &owner.id, &demote, T0 + 1, &cli()).await,
                Err(StoreError::Conflict {
                    constraint: Constraint::LastOwner
                })
            ));
            assert!(matches!(
                f.store.delete_user(&f.tenant, &owner.id, T0 + 1, &cli()).await,
                Err(StoreError::Conflict {
                    constraint: Constraint::LastOwner
                })
            ));
            assert_eq!(f.store.get_user(&f.tenant, &owner.id).await.unwrap().role, Role::Owner);
            // With a second owner, the first may go.
            let promote = UserPatch {
                role: Some(Role::Owner),
                name: Some("Luis".into()),
                ..UserPatch::default()
            };
            let luis = f.store.update_user(&f.tenant, &op.id, &promote, T0 + 2, &cli()).await.unwrap();
            assert_eq!((luis.role, luis.name.as_str(), luis.updated_at), (Role::Owner, "Luis", T0 + 2));
            f.store.update_user(&f.tenant, &owner.id, &demote, T0 + 3, &cli()).await.unwrap();
            f.store.delete_user(&f.tenant, &owner.id, T0 + 4, &cli()).await.unwrap();
            assert!(matches!(f.store.get_user(&f.tenant, &owner.id).await, Err(StoreError::NotFound)));
            assert!(matches!(
                f.store.delete_user(&other.id, &op.id, T0 + 5, &cli()).await,
                Err(StoreError::NotFound)
            ));

            // Each change left its audit row, newest first; refused ones left none.
            assert_eq!(
                f.actions().await,
                vec![
                    AuditAction::UserDelete,
                    AuditAction::UserUpdate,
                    AuditAction::UserUpdate,
                    AuditAction::UserCreate,
                    AuditAction::UserCreate,
                ]
            );
            let updates = f
                .store
                .list_audit(
                    &f.tenant,
                    &AuditFilter {
                        action: Some(AuditAction::UserUpdate),
                    },
                    &page(10),
                )
                .await
                .unwrap()
                .items;
            assert_eq!(updates.len(), 2);
            assert_eq!(updates[1].details["role"], serde_json::json!({"from": "operator", "to": "owner"}));
            assert_eq!(updates[1].target_id.as_deref(), Some(op.id.as_str()));
            assert_eq!((updates[0].actor.kind, updates[0].actor.name.as_str()), (ActorKind::Cli, "root"));
            let created = f
                .store
                .list_audit(
                    &f.tenant,
                    &AuditFilter {
                        action: Some(AuditAction::UserCreate),
                    },
                    &page(10),
                )
                .await
                .unwrap()
                .items;
            assert!(
                created.iter().all(|a| !a.details.to_string().contains("argon2")),
                "no password hash in the audit log"
            );
            assert!(f
                .store
                .list_audit(&other.id, &AuditFilter::default(), &page(10))
                .await
                .unwrap()
                .items
                .is_empty());
        }

        #[tokio::test]
        async fn sessions_end_when_idle_when_old_and_when_signed_out() {
            let Some(f) = $factory().await else { return };
            let ana = f.user("ana@example.com", Role::Admin).await;
            let login = f.store.user_for_login("ana@example.com").await.unwrap().unwrap();
            assert_eq!((login.user.id.as_str(), login.tenant.id.as_str()), (ana.id.as_str(), f.tenant.as_str()));
            assert!(login.password_hash.starts_with("$argon2id$"));
            assert!(f.store.user_for_login("nobody@example.com").await.unwrap().is_none());

            let idle = 12 * HOUR;
            let open = |id: &str, hash: &str, now: i64| NewSession {
                id: id.into(),
                user: ana.clone(),
                token_hash: hash.into(),
                now,
                expires_at: now + 7 * 24 * HOUR,
            };
            f.store.create_session(&open("ses_1", "h1", T0), &cli()).await.unwrap();
            let found = f.store.session_by_token("h1", idle, T0 + 11 * HOUR).await.unwrap().unwrap();
            assert_eq!((found.session_id.as_str(), found.user.id.as_str()), ("ses_1", ana.id.as_str()));
            assert!(f.store.session_by_token("h2", idle, T0).await.unwrap().is_none());
            // Idle for more than 12 hours: gone.
            assert!(f.store.session_by_token("h1", idle, T0 + 12 * HOUR + 1).await.unwrap().is_none());
            // Used now and then: it lasts, but no more than 7 days.
            f.store.create_session(&open("ses_2", "h2", T0), &cli()).await.unwrap();
            assert!(!f.store.touch_session("ses_2", MINUTE, T0 + 30_000).await.unwrap(), "once a minute");
            let mut at = T0;
            for _ in 0..15 {
                at += 11 * HOUR;
                assert!(f.store.touch_session("ses_2", MINUTE, at).await.unwrap());
                assert!(f.store.session_by_token("h2", idle, at + 1).await.unwrap().is_some());
            }
            let end = T0 + 7 * 24 * HOUR;
            f.store.touch_session("ses_2", MINUTE, end - 1).await.unwrap();
            assert!(f.store.session_by_token("h2", idle, end).await.unwrap().is_none());
            // Signing out ends it at once.
            f.store.create_session(&open("ses_3", "h3", T0), &cli()).await.unwrap();
            f.store.delete_session(&f.tenant, "ses_3", T0 + 1, &cli()).await.unwrap();
            assert!(f.store.session_by_token("h3", idle, T0 + 2).await.unwrap().is_none());
            assert!(matches!(
                f.store.delete_session(&f.tenant, "ses_3", T0 + 3, &cli()).await,
                Err(StoreError::NotFound)
            ));
            // A new password ends the user's sessions.
            f.store.create_session(&open("ses_4", "h4", T0), &cli()).await.unwrap();
            let reset = UserPatch {
                password_hash: Some("$argon2id$new".into()),
                ..UserPatch::default()
            };
            f.store.update_user(&f.tenant, &ana.id, &reset, T0 + 5, &cli()).await.unwrap();
            assert!(f.store.session_by_token("h4", idle, T0 + 6).await.unwrap().is_none());
            let actions = f.actions().await;
            assert_eq!(actions.iter().filter(|a| **a == AuditAction::SessionCreate).count(), 4);
            assert_eq!(actions.iter().filter(|a| **a == AuditAction::SessionDelete).count(), 1);
        }

        #[tokio::test]
        async fn failed_sign_ins_are_counted_per_email_until_a_session_opens() {
            let Some(f) = $factory().await else { return };
            let ana = f.user("ana@example.com", Role::Viewer).await;
            for i in 0..3 {
                f.store.record_login_failure("ana@example.com", T0 + i).await.unwrap();
            }
            f.store.record_login_failure("other@example.com", T0).await.unwrap();
            assert_eq!(
                f.store.login_failures("ana@example.com", T0 - 1).await.unwrap(),
                vec![T0, T0 + 1, T0 + 2]
            );
            assert_eq!(f.store.login_failures("ana@example.com", T0).await.unwrap(), vec![T0 + 1, T0 + 2]);
            let session = NewSession {
                id: "ses_1".into(),
                user: ana,
                token_hash: "h".into(),
                now: T0 + 3,
                expires_at: T0 + HOUR,
            };
            f.store.create_session(&session, &cli()).await.unwrap();
            assert!(f.store.login_failures("ana@example.com", 0).await.unwrap().is_empty());
            assert_eq!(f.store.login_failures("other@example.com", 0).await.unwrap().len(), 1);
        }

        #[tokio::test]
        async fn api_keys_have_roles_and_answer_no_more_once_revoked() {
            let Some(f) = $factory().await else { return };
            // A key from before roles existed is an owner's.
            f.store.add_api_key(&f.tenant, "hash-old", "pgn_old", T0).await.unwrap();
            let old = f.store.api_key_by_hash("hash-old").await.unwrap().unwrap();
            assert_eq!((old.key.role, old.tenant.id.as_str()), (Role::Owner, f.tenant.as_str()));
            let new = NewApiKey {
                id: pregon_domain::id::new_id("key"),
                tenant_id: f.tenant.clone(),
                name: "reports".into(),
                role: Role::Viewer,
                key_hash: "hash-viewer".into(),
                prefix: "pgn_1234".into(),
                created_by: Some(old.key.id.clone()),
                now: T0 + 1,
            };
            let made = f.store.create_api_key(&new, &cli()).await.unwrap();
            let auth = f.store.api_key_by_hash("hash-viewer").await.unwrap().unwrap();
            assert_eq!(auth.key, made);
            assert_eq!(auth.key.created_by.as_deref(), Some(old.key.id.as_str()));
            assert!(f.store.touch_api_key(&made.id, MINUTE, T0 + 2).await.unwrap());
            assert!(!f.store.touch_api_key(&made.id, MINUTE, T0 + 30_000).await.unwrap());
            assert!(f.store.touch_api_key(&made.id, MINUTE, T0 + 2 + MINUTE).await.unwrap());
            let listed = f.store.list_api_keys(&f.tenant, &page(10)).await.unwrap().items;
            assert_eq!(listed.len(), 2);
            let viewer = listed.iter().find(|k| k.id == made.id).unwrap();
            assert_eq!(viewer.last_used_at, Some(T0 + 2 + MINUTE));
            let other = f.store.create_tenant("other", "s", T0).await.unwrap();
            assert!(matches!(
                f.store.delete_api_key(&other.id, &made.id, T0 + 3, &cli()).await,
                Err(StoreError::NotFound)
            ));
            f.store.delete_api_key(&f.tenant, &made.id, T0 + 3, &cli()).await.unwrap();
            assert!(f.store.api_key_by_hash("hash-viewer").await.unwrap().is_none());
            assert_eq!(f.actions().await, vec![AuditAction::ApiKeyDelete, AuditAction::ApiKeyCreate]);
        }

        #[tokio::test]
        async fn an_idempotency_key_commits_with_its_change_and_answers_again() {
            let Some(f) = $factory().await else { return };
            let Reserved::Proceed(first) = f.store.reserve_idempotency(&f.key_request("k1", "body-a"), T0).await.unwrap()
            else {
                panic!("a new key is free")
            };
            // While it runs, the same request waits and another is refused.
            assert_eq!(
                f.store.reserve_idempotency(&f.key_request("k1", "body-a"), T0 + 1).await.unwrap(),
                Reserved::InProgress
            );
            assert_eq!(
                f.store.reserve_idempotency(&f.key_request("k1", "body-b"), T0 + 1).await.unwrap(),
                Reserved::Mismatch
            );
            // The change commits the key.
            let change = Change {
                actor: Actor::cli("root"),
                idempotency: Some(first.clone()),
            };
            let user = f.store.create_user(&f.new_user("ana@example.com", Role::Owner), &change).await.unwrap();
            assert_eq!(
                f.store.reserve_idempotency(&f.key_request("k1", "body-a"), T0 + 2).await.unwrap(),
                Reserved::Committed {
                    resource: Some(format!("user/{}", user.id))
                }
            );
            // Its answer is kept and given again.
            assert!(f.store.save_idempotent_response(&first, 201, b"sealed answer", T0 + 3).await.unwrap());
            assert_eq!(
                f.store.reserve_idempotency(&f.key_request("k1", "body-a"), T0 + 4).await.unwrap(),
                Reserved::Replay {
                    status: 201,
                    response: b"sealed answer".to_vec()
                }
            );
            // Keys are the tenant's own.
            let other = f.store.create_tenant("other", "s", T0).await.unwrap();
            let mut theirs = f.key_request("k1", "body-a");
            theirs.tenant_id = other.id.clone();
            assert!(matches!(f.store.reserve_idempotency(&theirs, T0 + 5).await.unwrap(), Reserved::Proceed(_)));
        }

        #[tokio::test]
        async fn a_key_left_running_is_taken_over_and_only_one_request_commits() {
            let Some(f) = $factory().await else { return };
            let request = f.key_request("k2", "body");
            let Reserved::Proceed(stale) = f.store.reserve_idempotency(&request, T0).await.unwrap() else {
                panic!("free")
            };
            // The first request's lock runs out (it died, or hangs): a retry takes the key.
            let Reserved::Proceed(retry) = f.store.reserve_idempotency(&request, T0 + 10 * MINUTE).await.unwrap() else {
                panic!("a lock that ran out is free again")
            };
            assert_ne!(stale.token, retry.token);
            // The first can no longer commit a change: nothing of it is written.
            let late = Change {
                actor: Actor::cli("root"),
                idempotency: Some(stale.clone()),
            };
            assert!(matches!(
                f.store.create_user(&f.new_user("late@example.com", Role::Owner), &late).await,
                Err(StoreError::Conflict {
                    constraint: Constraint::IdempotencyKeyTaken
                })
            ));
            assert!(f.store.user_for_login("late@example.com").await.unwrap().is_none());
            assert!(f.actions().await.is_empty(), "no audit row for a change that did not happen");
            assert!(!f.store.save_idempotent_response(&stale, 201, b"x", T0 + 11 * MINUTE).await.unwrap());
            // A released key is free at once; a day-old one too.
            f.store.release_idempotency(&retry).await.unwrap();
            assert!(matches!(
                f.store.reserve_idempotency(&request, T0 + 11 * MINUTE).await.unwrap(),
                Reserved::Proceed(_)
            ));
            let mut other_body = request.clone();
            other_body.request_hash = "another body".into();
            assert!(matches!(
                f.store.reserve_idempotency(&other_body, T0 + 25 * HOUR).await.unwrap(),
                Reserved::Proceed(_)
            ));
        }

        #[tokio::test]
        async fn two_requests_with_one_key_at_once_reserve_it_once() {
            let Some(f) = $factory().await else { return };
            let request = f.key_request("k3", "body");
            let (a, b) = tokio::join!(
                f.store.reserve_idempotency(&request, T0),
                f.store.reserve_idempotency(&request, T0)
            );
            let outcomes = [a.unwrap(), b.unwrap()];
            let proceeding = outcomes.iter().filter(|r| matches!(r, Reserved::Proceed(_))).count();
            assert_eq!(proceeding, 1, "{outcomes:?}");
            assert!(outcomes.contains(&Reserved::InProgress));
        }

        #[tokio::test]
        async fn what_has_served_is_purged() {
            let Some(f) = $factory().await else { return };
            let ana = f.user("ana@example.com", Role::Owner).await;
            let day = 24 * HOUR;
            f.store
                .create_session(
                    &NewSession {
                        id: "ses_old".into(),
                        user: ana.clone(),
                        token_hash: "old".into(),
                        now: T0,
                        expires_at: T0 + day,
                    },
                    &cli(),
                )
                .await
                .unwrap();
            f.store
                .create_session(
                    &NewSession {
                        id: "ses_new".into(),
                        user: ana.clone(),
                        token_hash: "new".into(),
                        now: T0 + 2 * day,
                        expires_at: T0 + 9 * day,
                    },
                    &cli(),
                )
                .await
                .unwrap();
            f.store.record_login_failure("x@example.com", T0).await.unwrap();
            f.store.reserve_idempotency(&f.key_request("old", "b"), T0).await.unwrap();
            f.store.reserve_idempotency(&f.key_request("new", "b"), T0 + 2 * day).await.unwrap();
            let now = T0 + 2 * day + 1;
            // Audit rows from before T0 + 1 go: the user's creation and the first session's.
            let deleted = f.store.purge_expired(now, T0 + 1, 12 * HOUR, 100).await.unwrap();
            assert_eq!(deleted, 2 + 1 + 1 + 1, "two audit rows, a key, a session, a failure");
            assert!(f.store.session_by_token("new", 12 * HOUR, now).await.unwrap().is_some());
            assert!(f.store.login_failures("x@example.com", 0).await.unwrap().is_empty());
            assert!(matches!(
                f.store.reserve_idempotency(&f.key_request("new", "b"), now).await.unwrap(),
                Reserved::InProgress
            ));
            assert_eq!(f.actions().await, vec![AuditAction::SessionCreate]);
            assert_eq!(f.store.purge_expired(now, T0 + 1, 12 * HOUR, 100).await.unwrap(), 0);
        }
    };
}

mod sqlite {
    use super::*;

    async fn sqlite_store() -> Option<Fixture> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/accounts.db", dir.path().display());
        let store = pregon_store::open(&url).await.unwrap();
        Some(fixture(store, Box::new(dir)).await)
    }

    accounts!(sqlite_store);
}

mod postgres {
    use super::*;

    async fn postgres_store() -> Option<Fixture> {
        let db = support::TestDatabase::create().await?;
        let store = pregon_store::open(&db.url).await.unwrap();
        Some(fixture(store, Box::new(db)).await)
    }

    accounts!(postgres_store);
}
