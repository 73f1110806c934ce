//! The local outbox channel: each message appended as one JSON line to
//! `<state dir>/outbox/<channel>.jsonl`, where a person (or a test) can read it.

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use twincloud_core::ids::key_segment;
use twincloud_core::message::Message;
use twincloud_core::ports::{Delivery, Notifier, NotifyError, Retry};

/// Appends messages to a JSON-lines file.
#[derive(Debug, Clone)]
pub struct OutboxNotifier {
    channel: String,
    path: PathBuf,
}

impl OutboxNotifier {
    /// An outbox for `channel` under the state directory `root`.
    pub fn new(root: impl Into<PathBuf>, channel: &str) -> Self {
        let path = root
            .into()
            .join("outbox")
            .join(format!("{}.jsonl", key_segment(channel)));
        OutboxNotifier {
            channel: channel.into(),
            path,
        }
    }

    /// The file messages are appended to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let mut line = serde_json::to_vec(message).map_err(|e| NotifyError {
            channel: self.channel.clone(),
            message: format!("cannot encode message: {e}"),
            retry: Retry::Permanent,
        })?;
        line.push(b'\n');
        let path = self.path.clone();
        let channel = self.channel.clone();
        tokio::task::spawn_blocking(move || {
            let fail = |e: std::io::Error| NotifyError {
                channel: channel.clone(),
                message: format!("{}: {e}", path.display()),
                retry: Retry::Transient,
            };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(fail)?;
            // One write call per line, so concurrent appenders never interleave within a line.
            f.write_all(&line).map_err(fail)?;
            Ok(Delivery {
                provider_id: None,
                attempts: 1,
            })
        })
        .await
        .map_err(|e| NotifyError {
            channel: self.channel.clone(),
            message: format!("outbox task failed: {e}"),
            retry: Retry::Transient,
        })?
    }
}
