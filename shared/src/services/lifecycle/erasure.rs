//! Erasing a person across every item that holds them: their responses (and their counts),
//! invitations and their short links, their suppression entries, autopilot memberships and lookups.

use crate::error::Result;
use crate::services::Caller;
use crate::services::audit::{self, Outcome, Target};
use crate::services::people::person::{EMAIL, PHONE, Person, entry_deletions};
use crate::store::{BatchOp, Condition, Item, Query, TenantStore, TxOp, keys};

/// Deletes a person and all their data at a caller's request, audited.
pub async fn erase_person(store: &TenantStore, caller: &Caller, person: &Person) -> Result<()> {
    erase(store, person).await?;
    audit::record(
        store,
        caller,
        "person.deleted",
        Target::Person(person.id.clone()),
        Outcome::Success,
    )
    .await
}

/// Deletes a person and all their data, as Delighted does: their responses (their scores leave
/// the results), invitations and short links, then the person and their lookups in one
/// transaction. A retry after a crash finishes the work.
pub(crate) async fn erase(store: &TenantStore, person: &Person) -> Result<()> {
    let partition = keys::person_partition(store.tenant(), &person.id)?;
    let pointers = store.query_all(Query::new(partition.clone())).await?;
    // Responses first: deleting one reads its invitation (its send, for the response rate).
    delete_responses(store, &pointers).await?;
    for pointer in &pointers {
        if let Some(id) = pointer.key.sk.strip_prefix("INV#") {
            let survey = pointer.str("survey").unwrap_or_default();
            store
                .delete(&keys::invitation(store.tenant(), survey, id)?, None)
                .await?;
            store
                .delete(&keys::short_link(store.tenant(), survey, id)?, None)
                .await?;
        }
    }
    // What the website surveys remember of the person's email (kept under its blind index, per
    // survey): one read of the surveys' ids, one batch of deletes.
    if let Some(ix) = &person.email_index {
        let surveys = Query::new(keys::tenant_partition(store.tenant())).prefix(keys::SURVEY_PREFIX);
        let visits = store
            .query_all(surveys)
            .await?
            .iter()
            .filter_map(|s| s.key.sk.strip_prefix(keys::SURVEY_PREFIX))
            .map(|survey| keys::site_visit(store.tenant(), survey, &format!("E{ix}")).map(BatchOp::Delete))
            .collect::<Result<Vec<_>>>()?;
        store.batch_write(visits).await?;
    }
    // An answer that came in meanwhile went through an invitation now gone: none can follow it.
    let pointers = store.query_all(Query::new(partition)).await?;
    delete_responses(store, &pointers).await?;
    store
        .batch_write(pointers.iter().map(|p| BatchOp::Delete(p.key.clone())).collect())
        .await?;
    let mut ops = vec![TxOp::Delete {
        key: person.key(store)?,
        condition: None,
    }];
    ops.extend(entry_deletions(store, person)?);
    ops.extend(crate::services::sending::autopilot::membership_deletions(
        store, &person.id,
    )?);
    for (kind, ix) in [(EMAIL, &person.email_index), (PHONE, &person.phone_index)] {
        if let Some(ix) = ix {
            ops.push(TxOp::Delete {
                key: keys::person_lookup(store.tenant(), kind, ix),
                condition: Some(Condition::eq("person", person.id.as_str())),
            });
        }
    }
    store.transact(ops).await
}

/// Deletes the responses `pointers` name (a person's `R#` pointers).
async fn delete_responses(store: &TenantStore, pointers: &[Item]) -> Result<()> {
    for id in pointers.iter().filter_map(|p| p.key.sk.strip_prefix("R#")) {
        crate::services::results::responses::delete(store, id).await?;
    }
    Ok(())
}
