//! `ovation bench --only backup`: a backup of a store of `--records` items (of the size of a
//! response), its check and its restore: time, rate and file size.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ovation::Result;
use ovation::store::embedded::{EmbeddedStore, backup};
use ovation::store::{BatchOp, Item, Key, Store};

/// Items written per batch while filling the store.
const BATCH: usize = 25;

pub async fn run(dir: &Path, records: usize) -> Result<()> {
    println!("# backup and restore of the embedded store ({records} items of ~500 bytes)");
    let file = dir.join(ovation::context::STORE_FILE);
    let store = Arc::new(EmbeddedStore::open(&file)?);
    let started = Instant::now();
    for first in (0..records).step_by(BATCH) {
        let ops = (first..(first + BATCH).min(records))
            .map(|i| {
                BatchOp::Put(
                    Item::new(Key::new(format!("T#BENCH{}#R", i % 100), format!("{i:012}")))
                        .with("score", (i % 11) as i64)
                        .with("comment", vec![7u8; 400])
                        .with("survey", "01H0000000000000000000SURV"),
                )
            })
            .collect();
        store.batch_write(ops).await?;
    }
    super::report("items written (batches of 25)", records, started);
    drop(store);
    let out = dir.join("bench.backup");
    let started = Instant::now();
    let made = backup::backup(&file, &out)?;
    super::report("backup (items)", made.items as usize, started);
    let store_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or_default();
    println!(
        "{:<44} {:>9} bytes (store file {store_bytes} bytes)",
        "  backup file", made.bytes
    );
    let started = Instant::now();
    backup::verify(&out)?;
    super::report("check (items)", made.items as usize, started);
    let restored = dir.join("restored.redb");
    let started = Instant::now();
    backup::restore(&out, &restored)?;
    super::report("restore into a new store (items)", made.items as usize, started);
    Ok(())
}
