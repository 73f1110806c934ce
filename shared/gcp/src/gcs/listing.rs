//! A streamed GCS listing: pages read on demand, their object resources kept as headers so
//! that a copy needs no HEAD.

use async_trait::async_trait;
use twincloud_core::ports::{ListingPages, ObjectError, ObjectInfo, is_folder_placeholder};

use super::blob::GcsBucket;

/// State of a streamed listing between pages.
pub(crate) struct Pages {
    pub(crate) blob: GcsBucket,
    pub(crate) full_prefix: String,
    pub(crate) start_after: Option<String>,
    pub(crate) page_token: Option<String>,
    pub(crate) done: bool,
}

#[async_trait]
impl ListingPages for Pages {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectInfo>>, ObjectError> {
        if self.done {
            return Ok(None);
        }
        let b = &self.blob;
        let token = b.token().await?;
        let page = b
            .list_page(
                &self.full_prefix,
                self.start_after.as_deref(),
                self.page_token.as_deref(),
                &token,
            )
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for item in page.items {
            // startOffset is inclusive; start_after is not.
            if Some(&item.name) == self.start_after.as_ref() {
                continue;
            }
            if let Some(head) = item.into_head(&b.prefix).filter(|h| {
                !h.info.key.is_empty() && !is_folder_placeholder(&h.info.key, h.info.size)
            }) {
                let mut info = head.info;
                info.meta = Some(Box::new(head.meta));
                items.push(info);
            }
        }
        self.page_token = page.next_page_token.filter(|t| !t.is_empty());
        self.done = self.page_token.is_none();
        Ok(Some(items))
    }
}
