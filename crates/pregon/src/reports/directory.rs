//! Which senders a webhook may be about, with the secrets that verify it, cached.
//!
//! Webhooks name a sender by a non-secret account id (`provider_account`: the Meta
//! `phone_number_id`, the Twilio account SID). Checking a signature needs the sender's
//! secret (Meta `app_secret`, Twilio `auth_token`), which is encrypted at rest: decrypting
//! it and reading the sender on every request would cost a database read per webhook, so
//! the answer is kept for a short while ([`TTL`]), and forgotten when a sender changes in
//! this process. A signature that does not verify against a cached secret older than
//! [`RECHECK_AFTER`] is checked again against fresh ones, so a rotated secret works at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pregon_domain::{ProviderKind, SenderStatus};
use pregon_providers::Credentials;
use pregon_store::{ReportWriterStore, SenderRecord, StoreError};

use crate::crypto::MasterKey;

/// How long a lookup is trusted.
pub const TTL: Duration = Duration::from_secs(30);
/// How old a lookup must be before a failed signature check reads the senders again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);
/// Lookups kept at most (all forgotten when full: they are cheap to redo).
const MAX_ENTRIES: usize = 10_000;

/// A sender as webhooks need it.
#[derive(Clone)]
pub struct KnownSender {
    pub id: String,
    pub tenant_id: String,
    pub phone_number: String,
    pub status: SenderStatus,
    /// What verifies its webhooks: Meta `app_secret`, Twilio `auth_token`.
    pub secret: Option<Vec<u8>>,
    /// Meta: the WhatsApp Business Account the number belongs to.
    pub waba_id: Option<String>,
}

impl std::fmt::Debug for KnownSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSender")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("phone_number", &self.phone_number)
            .finish_non_exhaustive()
    }
}

/// One cached lookup.
#[derive(Clone)]
pub struct Lookup {
    pub senders: Arc<Vec<KnownSender>>,
    pub fetched: Instant,
}

type Key = (ProviderKind, Option<String>);

/// The cache.
pub struct Directory {
    store: Arc<dyn ReportWriterStore>,
    master_key: MasterKey,
    entries: Mutex<HashMap<Key, Lookup>>,
}

impl Directory {
    pub fn new(store: Arc<dyn ReportWriterStore>, master_key: MasterKey) -> Self {
        Directory {
            store,
            master_key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The senders of `provider` with that account id (every sender of the provider for
    /// `None`), from the cache when fresh.
    pub async fn lookup(&self, provider: ProviderKind, account: Option<&str>) -> Result<Lookup, StoreError> {
        let key = (provider, account.map(str::to_string));
        if let Some(hit) = self.cached(&key) {
            if hit.fetched.elapsed() < TTL {
                return Ok(hit);
            }
        }
        self.refresh(key).await
    }

    /// Reads the senders again (after a signature failed against an older lookup).
    pub async fn lookup_fresh(&self, provider: ProviderKind, account: Option<&str>) -> Result<Lookup, StoreError> {
        self.refresh((provider, account.map(str::to_string))).await
    }

    fn cached(&self, key: &Key) -> Option<Lookup> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    async fn refresh(&self, key: Key) -> Result<Lookup, StoreError> {
        let records = self.store.senders_by_provider_account(key.0, key.1.as_deref()).await?;
        let lookup = Lookup {
            senders: Arc::new(records.iter().map(|r| self.known(r)).collect()),
            fetched: Instant::now(),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, lookup.clone());
        Ok(lookup)
    }

    fn known(&self, r: &SenderRecord) -> KnownSender {
        let credentials: Credentials = match self.master_key.open(&r.credentials) {
            Ok(plain) => serde_json::from_slice(&plain).unwrap_or_default(),
            Err(e) => {
                tracing::error!(sender = %r.id, error = %e, "cannot decrypt a sender's credentials to check its webhooks");
                Credentials::default()
            }
        };
        let secret = match r.provider {
            ProviderKind::Meta => credentials.app_secret,
            ProviderKind::Twilio => credentials.auth_token,
            ProviderKind::Sandbox => None,
        };
        KnownSender {
            id: r.id.clone(),
            tenant_id: r.tenant_id.clone(),
            phone_number: r.phone_number.clone(),
            status: r.status,
            secret: secret.filter(|s| !s.is_empty()).map(String::into_bytes),
            waba_id: credentials.waba_id,
        }
    }

    /// Forgets every lookup (a sender was created or changed).
    pub fn forget(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
