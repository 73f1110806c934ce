//! A GCS resumable upload: chunks are PUT to the session with their byte range; the last one,
//! which completes the object, carries the total size, and GCS's answer is checked. When the
//! size is not known in advance (a dump streamed as it is made), each chunk is held back until
//! the next one arrives, so that the last can still be sent with the total.

use async_trait::async_trait;
use twincloud_core::ports::{ObjectError, PortError, PutRequest, Upload};

use super::blob::{GcsBucket, Item, object_error, verify};

/// A resumable upload: chunks are PUT with their byte range; the last one, which completes the
/// object, carries the total size.
pub(crate) struct GcsUpload {
    blob: GcsBucket,
    req: PutRequest,
    session: String,
    token: Option<String>,
    offset: u64,
    /// A streamed upload's latest chunk, sent when the next arrives or at the finish.
    held: Option<Vec<u8>>,
    /// The object resource GCS answered the last chunk with.
    finished: Option<Item>,
}

impl GcsUpload {
    pub(crate) fn new(
        blob: GcsBucket,
        req: PutRequest,
        session: String,
        token: Option<String>,
    ) -> Self {
        GcsUpload {
            blob,
            req,
            session,
            token,
            offset: 0,
            held: None,
            finished: None,
        }
    }

    /// Sends `chunk` at the current offset; `total` when it is the last.
    async fn send(&mut self, chunk: Vec<u8>, total: Option<u64>) -> Result<(), ObjectError> {
        let s = &self.blob;
        s.count();
        let len = chunk.len() as u64;
        let end = self.offset + len;
        let total_text = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
        let range = if len == 0 {
            format!("bytes */{total_text}")
        } else {
            format!("bytes {}-{}/{total_text}", self.offset, end - 1)
        };
        let chunk = bytes::Bytes::from(chunk);
        let (resp, _) = s
            .ctx
            .retry()
            .send_expecting(&[308], || {
                s.ctx
                    .call(reqwest::Method::PUT, &self.session, self.token.as_deref())
                    .header("Content-Range", range.clone())
                    .body(chunk.clone())
            })
            .await
            .map_err(|f| object_error(s, &self.req.key, f))?;
        self.offset = end;
        if resp.status().is_success() {
            self.finished = resp.json::<Item>().await.ok();
        }
        Ok(())
    }
}

#[async_trait]
impl Upload for GcsUpload {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), ObjectError> {
        match self.req.size {
            Some(total) => {
                let last = self.offset + chunk.len() as u64 >= total;
                self.send(chunk, last.then_some(total)).await
            }
            None => match self.held.replace(chunk) {
                Some(previous) => self.send(previous, None).await,
                None => Ok(()),
            },
        }
    }

    async fn finish(mut self: Box<Self>, md5: &str) -> Result<(), ObjectError> {
        if self.req.size.is_none() {
            let last = self.held.take().unwrap_or_default();
            let total = self.offset + last.len() as u64;
            self.send(last, Some(total)).await?;
        } else if self.finished.is_none() && self.offset == 0 && self.req.size == Some(0) {
            self.send(Vec::new(), Some(0)).await?;
        }
        let Some(stored) = self.finished.take() else {
            return Err(ObjectError::Backend(PortError::transient(format!(
                "{}: the upload ended at byte {} of {} without GCS completing it",
                self.req.key,
                self.offset,
                self.req
                    .size
                    .map_or_else(|| "a stream".to_owned(), |s| s.to_string())
            ))));
        };
        if let Some(want) = &self.req.md5
            && !want.eq_ignore_ascii_case(md5)
        {
            return Err(ObjectError::Corrupt {
                key: self.req.key.clone(),
                detail: format!("MD5 {md5}, expected {want}"),
            });
        }
        verify(&self.req, md5, &stored)
    }

    async fn abort(self: Box<Self>) {
        let s = &self.blob;
        let _ = s
            .ctx
            .call(
                reqwest::Method::DELETE,
                &self.session,
                self.token.as_deref(),
            )
            .send()
            .await;
    }
}
