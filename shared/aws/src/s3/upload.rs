//! An S3 multipart upload: each part carries its Content-MD5; completion is conditional like
//! a put, and an upload that fails is aborted.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use twincloud_core::digest::{ContentDigest, hex_to_base64};
use twincloud_core::ports::{ObjectError, PutRequest, Upload};

use super::blob::{S3Bucket, precondition_headers};

/// A multipart upload: each part carries its Content-MD5; completion is conditional like a put.
pub(crate) struct S3Upload {
    blob: S3Bucket,
    full_key: String,
    req: PutRequest,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

impl S3Upload {
    pub(crate) fn new(
        blob: S3Bucket,
        full_key: String,
        req: PutRequest,
        upload_id: String,
    ) -> Self {
        S3Upload {
            blob,
            full_key,
            req,
            upload_id,
            parts: Vec::new(),
        }
    }
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), ObjectError> {
        let s = &self.blob;
        s.count();
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let md5 = hex_to_base64(&ContentDigest::of(&chunk).0).unwrap_or_default();
        let part = s
            .client
            .upload_part()
            .bucket(&s.bucket)
            .key(&self.full_key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .content_md5(md5)
            .body(ByteStream::from(chunk))
            // Content-MD5 is the integrity check S3 verifies; a SHA-256 of the payload for the
            // signature would hash every byte once more.
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s.object_error(&self.req.key, e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    async fn finish(self: Box<Self>, md5: &str) -> Result<(), ObjectError> {
        if let Some(want) = &self.req.md5
            && !want.eq_ignore_ascii_case(md5)
        {
            let err = ObjectError::Corrupt {
                key: self.req.key.clone(),
                detail: format!("MD5 {md5}, expected {want}"),
            };
            self.abort().await;
            return Err(err);
        }
        let s = &self.blob;
        s.count();
        let (if_match, if_none_match) = precondition_headers(&self.req.when);
        let done = s
            .client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.full_key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .send()
            .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = s.object_error(&self.req.key, e);
                self.abort().await;
                Err(err)
            }
        }
    }

    async fn abort(self: Box<Self>) {
        let s = &self.blob;
        s.count();
        let _ = s
            .client
            .abort_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.full_key)
            .upload_id(&self.upload_id)
            .send()
            .await;
    }
}
