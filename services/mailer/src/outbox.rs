//! The outbox: confirmations written as `.eml` files instead of sent.
//!
//! Used when no SMTP server is configured (development, demos, tests), so
//! the whole flow runs and the mails can be opened in any mail client. Each
//! file is written to a temporary name and renamed into place, so a reader
//! never sees half a mail. The file name comes from the Message-ID, so a
//! retry or redelivery overwrites the earlier file instead of adding one.
//!
//! The files hold personal data in clear; the outbox is not meant for
//! production.

use crate::message::OutgoingMail;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A folder of `.eml` files.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// Opens (creating if needed) the outbox folder.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Outbox { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the mail with this Message-ID is (or would be) stored.
    pub fn path_for(&self, message_id: &str) -> PathBuf {
        self.dir.join(file_name_for(message_id))
    }

    /// Writes the mail atomically and returns its path.
    pub async fn write(&self, mail: &OutgoingMail) -> io::Result<PathBuf> {
        let target = self.path_for(&mail.message_id);
        let bytes = mail.bytes().to_vec();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &target, &bytes).map(|()| target))
            .await
            .map_err(io::Error::other)?
    }
}

impl Outbox {
    /// Deletes the mail with this Message-ID, if it is there (and makes the
    /// deletion durable). Removing a mail that is not there succeeds.
    pub async fn remove(&self, message_id: &str) -> io::Result<()> {
        let target = self.path_for(message_id);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            match fs::remove_file(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(io::Error::other)?
    }
}

fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("mail");
    // Unique per write, so two concurrent writes of the same mail never
    // share a temporary file; the last rename wins with a complete file.
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, target)?;
        // Make the rename itself durable.
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `confirmation.<id>@<domain>.eml` for our own Message-IDs. Anything with
/// characters unsafe in a file name is sanitised and gets a hash suffix, so
/// that distinct ids cannot collide after sanitising.
pub fn file_name_for(message_id: &str) -> String {
    let bare = message_id.trim().trim_start_matches('<').trim_end_matches('>');
    let safe: String = bare
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') { c } else { '_' })
        .take(150)
        .collect();
    if safe == bare && !safe.is_empty() && !safe.starts_with('.') {
        format!("{safe}.eml")
    } else {
        let hash = hex::encode(Sha256::digest(message_id.as_bytes()));
        format!("_{safe}-{}.eml", &hash[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_become_readable_file_names() {
        assert_eq!(
            file_name_for("<confirmation.6f1c2a52-4c1e-4a53-9d0b-6f0f7e0f1a01@masthead.invalid>"),
            "confirmation.6f1c2a52-4c1e-4a53-9d0b-6f0f7e0f1a01@masthead.invalid.eml"
        );
    }

    #[test]
    fn unsafe_ids_are_sanitised_without_collisions() {
        let a = file_name_for("<../../etc/passwd>");
        let b = file_name_for("<.._.._etc_passwd>");
        assert!(!a.contains('/') && !a.starts_with('.'), "{a}");
        assert_ne!(a, b);
    }
}
