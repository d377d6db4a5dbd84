//! Recipient identities: a WhatsApp user is known by an E.164 phone, a business-scoped user
//! ID (BSUID), or both. Where pregon sees both together (a contact that gives both, a reply
//! or a status naming both) it links them in `recipient_link`, so that an opt-out recorded
//! under either identifier covers the other ([`crate::ConsentStore`] reads the links).
//!
//! The `phone` columns of `message`, `inbound_message` and `opt_out` hold the recipient's
//! identity key ([`pregon_domain::identity_key`]): the phone when known, else the BSUID.

use std::collections::HashMap;

use pregon_domain::OptOutScope;

use crate::db::{sql, Texts, Tx};
use crate::error::Result;
use crate::records::Millis;
use crate::rows::RecordRow;
use crate::SqlStore;

/// Links a phone and a BSUID inside a write.
pub(crate) async fn link(tx: &mut Tx, tenant_id: &str, phone: &str, user_id: &str, now: Millis) -> Result<()> {
    tx.execute(
        sql(
            "insert into recipient_link (tenant_id, user_id, phone, created_at) values ($1, $2, $3, $4) \
             on conflict do nothing",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(phone)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// Links the phone and BSUID of every message of a campaign that has both.
pub(crate) async fn link_message_identities(
    tx: &mut Tx,
    tenant_id: &str,
    campaign_id: &str,
    now: Millis,
) -> Result<()> {
    tx.execute(
        sql("insert into recipient_link (tenant_id, user_id, phone, created_at) \
             select distinct tenant_id, user_id, phone, $3 from message \
             where campaign_id = $2 and tenant_id = $1 and user_id is not null and phone like '+%' \
             on conflict do nothing")
        .bind(tenant_id)
        .bind(campaign_id)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// The wider of two scopes: an opt-out of everything covers a marketing one.
pub(crate) fn widest(a: OptOutScope, b: OptOutScope) -> OptOutScope {
    if a == OptOutScope::All || b == OptOutScope::All {
        OptOutScope::All
    } else {
        OptOutScope::Marketing
    }
}

impl SqlStore {
    /// Of `keys` (identity keys), those opted out, directly or through a linked identifier,
    /// with the widest scope that covers each (one query).
    pub(crate) async fn opt_out_scopes_linked(
        &self,
        tenant_id: &str,
        keys: &[String],
    ) -> Result<HashMap<String, OptOutScope>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let d = self.db.dialect();
        let (direct, by_phone, by_user) = (
            d.in_list("o.phone", "$2"),
            d.in_list("l.phone", "$2"),
            d.in_list("l.user_id", "$2"),
        );
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select o.phone as k, o.scope from opt_out o where o.tenant_id = $1 and {direct} \
                     union all \
                     select l.phone as k, o.scope from recipient_link l join opt_out o \
                       on o.tenant_id = l.tenant_id and o.phone = l.user_id where l.tenant_id = $1 and {by_phone} \
                     union all \
                     select l.user_id as k, o.scope from recipient_link l join opt_out o \
                       on o.tenant_id = l.tenant_id and o.phone = l.phone where l.tenant_id = $1 and {by_user}"
                ))
                .bind(tenant_id)
                .bind(Texts(keys)),
            )
            .await?;
        let mut out: HashMap<String, OptOutScope> = HashMap::new();
        for r in &rows {
            let scope: OptOutScope = crate::rows::parse_enum(&r.text("scope")?)?;
            let key = r.text("k")?;
            let wide = out.get(&key).map_or(scope, |s| widest(*s, scope));
            out.insert(key, wide);
        }
        Ok(out)
    }

    pub(crate) async fn link_recipient_now(
        &self,
        tenant_id: &str,
        phone: &str,
        user_id: &str,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        link(&mut tx, tenant_id, phone, user_id, now).await?;
        tx.commit().await
    }

    pub(crate) async fn linked_to(&self, tenant_id: &str, key: &str) -> Result<Vec<String>> {
        let rows = self
            .db
            .fetch_all(
                sql(
                    "select user_id as k from recipient_link where tenant_id = $1 and phone = $2 \
                     union select phone as k from recipient_link where tenant_id = $1 and user_id = $2 \
                     order by k",
                )
                .bind(tenant_id)
                .bind(key),
            )
            .await?;
        rows.iter().map(|r| r.text("k")).collect()
    }
}
