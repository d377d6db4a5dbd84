//! Daily limits: how many unique recipients a sender (or the senders of one limit group)
//! may message in a rolling 24 hours, counted in the database in the send batch's own
//! transaction, so that processes sharing a key never pass the limit together.

use std::collections::HashSet;

use crate::campaigns::transitions::{self, ids_of};
use crate::db::{sql, Db, Texts, Ty};
use crate::error::Result;
use crate::records::{Admission, Millis, SenderRecord, DAY_MILLIS};
use crate::rows::RecordRow;

pub(super) async fn admit_recipients(
    db: &Db,
    limit_key: &str,
    limit: i64,
    phones: &[String],
    now: Millis,
) -> Result<Admission> {
    let mut tx = db.write().await?;
    let d = tx.dialect();
    // Processes sharing the key take turns (PostgreSQL; SQLite has one writer anyway), so
    // together they never pass the limit.
    tx.lock(sql("select pg_advisory_xact_lock(hashtextextended($1, 7))").bind(limit_key))
        .await?;
    tx.execute(
        sql("delete from daily_recipient where limit_key = $1 and last_at <= $2")
            .bind(limit_key)
            .bind(now - DAY_MILLIS),
    )
    .await?;
    let mut used = tx
        .fetch_one(sql("select count(*) as n from daily_recipient where limit_key = $1").bind(limit_key))
        .await?
        .int("n")?;
    let known: HashSet<String> = tx
        .fetch_all(
            sql(format!(
                "select phone from daily_recipient where limit_key = $1 and {}",
                d.in_list("phone", "$2")
            ))
            .bind(limit_key)
            .bind(Texts(phones)),
        )
        .await?
        .iter()
        .map(|r| r.text("phone"))
        .collect::<Result<_>>()?;
    let admitted = admit(phones, &known, &mut used, limit);
    let list: Vec<String> = admitted.iter().cloned().collect();
    let listed = d.list_rows("$3", Ty::Text);
    tx.execute(
        sql(format!(
            "insert into daily_recipient (limit_key, phone, last_at) select $1, p.value, $2 from {listed} as p \
             where true on conflict (limit_key, phone) do update set last_at = excluded.last_at"
        ))
        .bind(limit_key)
        .bind(now)
        .bind(Texts(&list)),
    )
    .await?;
    let oldest = tx
        .fetch_one(sql("select min(last_at) as oldest from daily_recipient where limit_key = $1").bind(limit_key))
        .await?
        .opt_int("oldest")?;
    tx.commit().await?;
    Ok(Admission {
        admitted,
        used,
        room_at: oldest.map(|t| t + DAY_MILLIS),
    })
}

pub(super) async fn pause_for_daily_limit(
    db: &Db,
    sender: &SenderRecord,
    recheck_at: Millis,
    now: Millis,
) -> Result<Vec<String>> {
    let mut tx = db.write().await?;
    let d = tx.dialect();
    let chosen = d.in_subquery(
        "campaign_id",
        &format!(
            "select campaign_id from campaign where status = 'running' and sender_id in \
               (select sender_id from sender where sender_id = $3 \
                or (cast($4 as text) is not null and tenant_id = $5 and limit_group = $4)) \
             order by campaign_id{}",
            d.for_no_key_update()
        ),
    );
    let rows = tx
        .fetch_all(
            sql(format!(
                "update campaign set status = 'paused', paused_reason = 'daily_limit', paused_detail = null, \
                 recheck_at = $1, updated_at = $2 where {chosen} returning campaign_id"
            ))
            .bind(recheck_at)
            .bind(now)
            .bind(&sender.id)
            .bind(&sender.limit_group)
            .bind(&sender.tenant_id),
        )
        .await?;
    let ids = ids_of(&rows)?;
    for id in &ids {
        transitions::requeue_claimed(&mut tx, id, now).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// Which of `phones` a daily limit admits: those already counted (`known`), and new ones
/// while fewer than `limit` are counted (`used` counts them in). Repeats count once.
pub(crate) fn admit(phones: &[String], known: &HashSet<String>, used: &mut i64, limit: i64) -> HashSet<String> {
    let mut admitted = HashSet::with_capacity(phones.len());
    for phone in phones {
        if known.contains(phone) || admitted.contains(phone) {
            admitted.insert(phone.clone());
        } else if *used < limit {
            *used += 1;
            admitted.insert(phone.clone());
        }
    }
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_limit_admits_known_recipients_and_new_ones_while_there_is_room() {
        let phones: Vec<String> = ["+1", "+2", "+3", "+2", "+4"].iter().map(|p| p.to_string()).collect();
        let known = HashSet::from(["+3".to_string()]);
        let mut used = 8;
        let admitted = admit(&phones, &known, &mut used, 10);
        // +1 and +2 fill the room; +3 was already counted; +4 finds none left.
        assert_eq!(used, 10);
        let mut got: Vec<&String> = admitted.iter().collect();
        got.sort();
        assert_eq!(got, vec!["+1", "+2", "+3"]);
    }
}
