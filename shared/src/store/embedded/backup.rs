//! Backups of the embedded store. A backup copies every item of one read transaction (a
//! consistent moment, taken while writes go on: by the running server through its own handle,
//! `Store::backup`, or from a stopped store's file) into one file, with the item count and a
//! SHA-256 of the bytes before it; `restore` checks the whole file first, then writes its items
//! into a new store, rebuilding the index and expiry tables from them. The master key is never in
//! a backup.
//!
//! The file: the line `OVATION-BACKUP 1`, then per item its key's length (4 bytes, big-endian),
//! its key (`pk 0x00 sk`), its value's length and its value (the item's attributes, JSON), then
//! `0xFFFFFFFF`, the count (8 bytes) and the SHA-256 (32 bytes).

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{CACHE_BYTES, ITEMS, Tables, decode, split_key, unavailable};
use crate::error::{Error, Result};
use crate::store::BackupSummary;

const MAGIC: &[u8] = b"OVATION-BACKUP 1\n";
const END: u32 = u32::MAX;
/// A key is at most 2 KB of partition and 1 KB of sort key; an item at most 400 KB.
const MAX_KEY: u32 = 4 * 1024;
const MAX_VALUE: u32 = 1024 * 1024;
/// Items a restore writes in one transaction.
const RESTORE_BATCH: usize = 10_000;

/// Backs up a stopped store (its file at `store`) to `out`. A store a server has open is backed
/// up by that server (`Store::backup`): the file is its alone while it runs.
pub fn backup(store: &Path, out: &Path) -> Result<BackupSummary> {
    if !store.exists() {
        return Err(Error::Config {
            name: "OVATION_DATA_DIR",
            reason: format!("{} does not exist: there is no store to back up", store.display()),
        });
    }
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .open(store)
        .map_err(|e| unavailable(format!("cannot open {}: {e}", store.display())))?;
    write_backup(&db, out)
}

/// Writes every item of one read transaction of `db` to `out`, which must not exist: written
/// beside it under another name, synced, then renamed, so that a file at `out` is always a whole
/// backup.
pub(super) fn write_backup(db: &impl ReadableDatabase, out: &Path) -> Result<BackupSummary> {
    if out.exists() {
        return Err(damaged(out, "exists already; name a new file"));
    }
    let partial = sibling(out, "partial");
    // Readable by its owner only, as the data directory is; never through a link or over a file
    // already there (which is left alone).
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| io(&partial, e))?;
    let written = (|| {
        let txn = db.begin_read().map_err(unavailable)?;
        let items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut file = Hashed::new(BufWriter::new(created));
        file.write(MAGIC).map_err(|e| io(&partial, e))?;
        let mut count = 0u64;
        for entry in items.iter().map_err(unavailable)? {
            let (key, value) = entry.map_err(unavailable)?;
            for part in [key.value(), value.value()] {
                file.write(&(part.len() as u32).to_be_bytes())
                    .map_err(|e| io(&partial, e))?;
                file.write(part).map_err(|e| io(&partial, e))?;
            }
            count += 1;
        }
        file.write(&END.to_be_bytes()).map_err(|e| io(&partial, e))?;
        file.write(&count.to_be_bytes()).map_err(|e| io(&partial, e))?;
        let (mut writer, sha, bytes) = file.finish();
        writer.write_all(&sha).map_err(|e| io(&partial, e))?;
        let inner = writer.into_inner().map_err(|e| io(&partial, e.into_error()))?;
        inner.sync_all().map_err(|e| io(&partial, e))?;
        Ok(BackupSummary {
            items: count,
            bytes: bytes + sha.len() as u64,
            sha256: hex(&sha),
        })
    })();
    match written {
        Ok(summary) => {
            fs::rename(&partial, out).map_err(|e| io(out, e))?;
            sync_dir(out)?;
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Reads a backup through, checking its form, every item and its digest; writes nothing.
pub fn verify(backup: &Path) -> Result<BackupSummary> {
    read(backup, |_, _| Ok(()))
}

/// Restores a backup into a new store file at `store` (which must not exist): the file is checked
/// whole first, so a damaged one writes nothing.
pub fn restore(backup: &Path, store: &Path) -> Result<BackupSummary> {
    if store.exists() {
        return Err(Error::Config {
            name: "OVATION_DATA_DIR",
            reason: format!("{} exists: restore into an empty data directory", store.display()),
        });
    }
    let summary = verify(backup)?;
    let partial = sibling(store, "restoring");
    let _ = fs::remove_file(&partial);
    let written = (|| {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&partial)
            .map_err(|e| unavailable(format!("cannot create {}: {e}", partial.display())))?;
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(RESTORE_BATCH);
        let write = |batch: &mut Vec<(Vec<u8>, Vec<u8>)>| -> Result<()> {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut tables = Tables::open(&txn)?;
                for (key, value) in batch.drain(..) {
                    tables.put(&decode(split_key(&key)?, &value)?)?;
                }
            }
            txn.commit().map_err(unavailable)
        };
        read(backup, |key, value| {
            batch.push((key.to_vec(), value.to_vec()));
            if batch.len() == RESTORE_BATCH {
                write(&mut batch)?;
            }
            Ok(())
        })?;
        write(&mut batch)?;
        // Every item landed, each once.
        let txn = db.begin_read().map_err(unavailable)?;
        let stored = txn.open_table(ITEMS).map_err(unavailable)?.len().map_err(unavailable)?;
        if stored != summary.items {
            return Err(damaged(
                backup,
                &format!("holds {} items but {stored} were stored", summary.items),
            ));
        }
        Ok(())
    })();
    match written {
        Ok(()) => {
            fs::rename(&partial, store).map_err(|e| io(store, e))?;
            sync_dir(store)?;
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Reads a backup, handing each item to `each`, and checks the end: the count and the digest.
fn read(backup: &Path, mut each: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<BackupSummary> {
    let file = File::open(backup).map_err(|e| io(backup, e))?;
    let mut file = Hashed::new(BufReader::new(file));
    let mut magic = vec![0u8; MAGIC.len()];
    file.read_exact(&mut magic)
        .map_err(|_| damaged(backup, "is not an Ovation backup"))?;
    if magic != MAGIC {
        return Err(damaged(backup, "is not an Ovation backup"));
    }
    let cut = |_| damaged(backup, "ends early: it was cut short or is not whole");
    let mut count = 0u64;
    let (mut key, mut value) = (Vec::new(), Vec::new());
    loop {
        let length = file.read_u32().map_err(cut)?;
        if length == END {
            break;
        }
        if length == 0 || length > MAX_KEY {
            return Err(damaged(backup, "holds a malformed item"));
        }
        key.resize(length as usize, 0);
        file.read_exact(&mut key).map_err(cut)?;
        let length = file.read_u32().map_err(cut)?;
        if length > MAX_VALUE {
            return Err(damaged(backup, "holds a malformed item"));
        }
        value.resize(length as usize, 0);
        file.read_exact(&mut value).map_err(cut)?;
        // Each item must read as one: a damaged byte inside an item is found here or by the digest.
        decode(
            split_key(&key).map_err(|_| damaged(backup, "holds a malformed key"))?,
            &value,
        )
        .map_err(|_| damaged(backup, "holds an item that does not read"))?;
        each(&key, &value)?;
        count += 1;
    }
    let mut stated = [0u8; 8];
    file.read_exact(&mut stated).map_err(cut)?;
    let (mut reader, sha, bytes) = file.finish();
    let mut digest = [0u8; 32];
    reader.read_exact(&mut digest).map_err(cut)?;
    if reader.read(&mut [0u8; 1]).map_err(|e| io(backup, e))? != 0 {
        return Err(damaged(backup, "has bytes after its end"));
    }
    if sha.as_slice() != digest {
        return Err(damaged(backup, "does not match its checksum: it is damaged"));
    }
    if u64::from_be_bytes(stated) != count {
        return Err(damaged(backup, "holds another number of items than it says"));
    }
    Ok(BackupSummary {
        items: count,
        bytes: bytes + 32,
        sha256: hex(&sha),
    })
}

/// A reader or writer that hashes what passes through it.
struct Hashed<T> {
    inner: T,
    digest: digest::Context,
    bytes: u64,
}

impl<T> Hashed<T> {
    fn new(inner: T) -> Self {
        Hashed {
            inner,
            digest: digest::Context::new(&digest::SHA256),
            bytes: 0,
        }
    }

    fn finish(self) -> (T, Vec<u8>, u64) {
        (self.inner, self.digest.finish().as_ref().to_vec(), self.bytes)
    }
}

impl<W: Write> Hashed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.digest.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

impl<R: Read> Hashed<R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_exact(buf)?;
        self.digest.update(buf);
        self.bytes += buf.len() as u64;
        Ok(())
    }

    fn read_u32(&mut self) -> std::io::Result<u32> {
        let mut bytes = [0u8; 4];
        self.read_exact(&mut bytes)?;
        Ok(u32::from_be_bytes(bytes))
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Unavailable {
        service: "backup file",
        reason: format!("{}: {e}", path.display()),
    }
}

fn damaged(path: &Path, reason: &str) -> Error {
    Error::invalid("backup", format!("{} {reason}", path.display()))
}
