//! The local stack's mailer and SMS sender: each message is a file in the data directory's
//! `outbox/` folder (`.eml`, the raw MIME an SES send would carry, its tags in SES's
//! `X-SES-MESSAGE-TAGS` header; `.sms`, a short text), named by
//! its idempotency key, so a retried send finds its file and does not send twice. `ovation serve`
//! shows the folder at `/dev/outbox`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Mailer, OutgoingEmail, OutgoingSms, SendFailure, SmsSender, mime};
use crate::error::{Error, Result};

pub const FOLDER: &str = "outbox";
/// The header of an outbox email naming its message tags (`name=value, …`).
pub const TAGS_HEADER: &str = "X-SES-MESSAGE-TAGS";
/// One line per message written, in the order they went out.
pub const SENT_LOG: &str = ".sent.log";

pub struct Outbox {
    dir: PathBuf,
}

/// One message in the outbox.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub modified: std::time::SystemTime,
}

impl Outbox {
    pub fn open(dir: &Path) -> Result<Outbox> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Config {
            name: "OVATION_DATA_DIR",
            reason: format!("cannot create {}: {e}", dir.display()),
        })?;
        Ok(Outbox { dir: dir.to_owned() })
    }

    /// Writes `content` as `{key}.{extension}` unless a send with this key is already there.
    fn deliver(&self, key: &str, extension: &str, content: &str) -> std::result::Result<String, SendFailure> {
        let name: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let file = format!("{name}.{extension}");
        let path = self.dir.join(&file);
        if path.exists() {
            // Sent before; a crash between the rename and the log line left it unlogged.
            let log = std::fs::read_to_string(self.dir.join(SENT_LOG)).unwrap_or_default();
            if !log.lines().any(|line| line == file) {
                self.log_sent(&file)?;
            }
            return Ok(name);
        }
        // Written aside, then renamed: a crash leaves the whole message or none.
        let partial = self.dir.join(format!(".{file}.partial"));
        std::fs::write(&partial, content)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| SendFailure::Unavailable(format!("outbox: {e}")))?;
        self.log_sent(&file)?;
        Ok(name)
    }

    /// One line per message that went out: what a recipient would have received.
    fn log_sent(&self, file: &str) -> std::result::Result<(), SendFailure> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(SENT_LOG))
            .and_then(|mut log| std::io::Write::write_all(&mut log, format!("{file}\n").as_bytes()))
            .map_err(|e| SendFailure::Unavailable(format!("outbox log: {e}")))
    }

    /// The newest messages first, at most `limit`.
    pub fn list(dir: &Path, limit: usize) -> Vec<Entry> {
        let mut entries: Vec<Entry> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if name.starts_with('.') {
                    return None;
                }
                Some(Entry {
                    modified: e.metadata().ok()?.modified().ok()?,
                    path: e.path(),
                    name,
                })
            })
            .collect();
        entries.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
        entries.truncate(limit);
        entries
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &OutgoingEmail) -> std::result::Result<String, SendFailure> {
        // The tags as SES's raw-mail header names them, so the outbox page can play their events.
        let tags: Vec<String> = email.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let raw = format!("{TAGS_HEADER}: {}\r\n{}", tags.join(", "), mime::render(email));
        self.deliver(&email.idempotency_key, "eml", &raw)
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send(&self, sms: &OutgoingSms) -> std::result::Result<String, SendFailure> {
        let content = format!(
            "To: {}\nFrom: {}\n\n{}\n",
            sms.to,
            sms.sender_id.as_deref().unwrap_or("Ovation"),
            sms.text
        );
        self.deliver(&sms.idempotency_key, "sms", &content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_logged_once_even_after_a_crash_before_its_log_line() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let log = || std::fs::read_to_string(dir.path().join(SENT_LOG)).unwrap_or_default();
        // As a crash between the rename and the log line leaves it: the file, no line.
        std::fs::write(dir.path().join("k-1.eml"), "sent").unwrap();
        assert_eq!(outbox.deliver("k-1", "eml", "again").unwrap(), "k-1");
        assert_eq!(outbox.deliver("k-1", "eml", "again").unwrap(), "k-1");
        outbox.deliver("k-2", "eml", "new").unwrap();
        assert_eq!(log(), "k-1.eml\nk-2.eml\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("k-1.eml")).unwrap(), "sent");
    }
}
