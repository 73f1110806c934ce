//! One `pg_dump` streamed once to every destination at the same time: a reader fills
//! part-sized chunks while the previous one is written to all uploads, so memory is a few parts
//! whatever the database's size, and the server is read once for all clouds. Nothing appears
//! under the dump's key unless `pg_dump` exited well and every byte was accepted; the manifest
//! is written only beside dumps that are complete.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::{join_all, try_join};
use sha2::Digest;
use tokio::io::AsyncReadExt;
use twincloud_core::digest::ContentDigest;
use twincloud_core::planner::dumps::{self, DumpManifest, DumpPart, MANIFEST_FORMAT};
use twincloud_core::ports::{ObjectError, ObjectStore, PortError, PutRequest, Upload};
use twincloud_postgres::{PgConn, PgError, PgErrorKind};

/// A destination of a set's dumps.
#[derive(Clone)]
pub(crate) struct Destination {
    /// As configured, for messages.
    pub name: String,
    /// Its store.
    pub store: Arc<dyn ObjectStore>,
}

/// What a dump run produced: the manifest, and the destinations that did not take it.
pub(crate) struct Dumped {
    pub manifest: DumpManifest,
    pub failed: Vec<(String, PortError)>,
}

fn pg(e: PgError) -> PortError {
    e.into()
}

fn object(e: ObjectError) -> PortError {
    match e {
        ObjectError::Backend(p) => p,
        other => {
            let retry = other.retry();
            PortError::new(other.to_string(), retry)
        }
    }
}

/// Dumps `conn`'s database, taken at `taken_at` for set `set`, to every destination in `to`.
pub(crate) async fn dump_to(
    conn: &PgConn,
    set: &str,
    database: &str,
    taken_at: DateTime<Utc>,
    compress: u8,
    to: &[Destination],
) -> Result<Dumped, PortError> {
    let (server, pg_dump_version) = dumpable(conn).await?;
    let hold = conn.export_snapshot().await.map_err(pg)?;
    let stats = {
        let c = conn.clone();
        let id = hold.id.clone();
        tokio::spawn(async move { c.table_stats(Some(&id)).await })
    };
    let stem = dumps::stem(set, database, taken_at);
    let key = dumps::key(&stem, DumpPart::Dump);
    let mut req = PutRequest::streamed(&key);
    req.meta.content_type = Some("application/vnd.postgresql.custom-dump".into());
    let mut uploads = match begin_uploads(to, &req).await {
        Ok(u) => u,
        Err(e) => {
            stats.abort();
            hold.release().await;
            return Err(e);
        }
    };
    let part = to
        .iter()
        .map(|d| d.store.part_size())
        .max()
        .unwrap_or(8 << 20);
    let pumped = dump_through(conn, &hold.id, compress, part, &mut uploads).await;
    let outcome = match pumped {
        Ok(p) => stats
            .await
            .map_err(|e| PortError::transient(format!("counting rows: {e}")))
            .and_then(|r| r.map_err(pg))
            .map(|s| (p, s)),
        Err(e) => {
            stats.abort();
            Err(e)
        }
    };
    hold.release().await;
    let (digest, tables) = match outcome {
        Ok(x) => x,
        Err(e) => {
            abort(uploads).await;
            return Err(e);
        }
    };
    let manifest = DumpManifest {
        format: MANIFEST_FORMAT,
        set: set.into(),
        database: database.into(),
        taken_at,
        finished_at: Utc::now(),
        server_version: server.version,
        pg_dump_version,
        size: digest.size,
        sha256: digest.sha256,
        md5: digest.md5,
        tables,
    };
    let failed = finish_everywhere(uploads, to, &stem, &manifest).await?;
    Ok(Dumped { manifest, failed })
}

/// Runs `pg_dump` on the held snapshot and streams its output into every upload. pg_dump's
/// own verdict comes first: a dump it did not finish must leave no object.
async fn dump_through(
    conn: &PgConn,
    snapshot: &str,
    compress: u8,
    part: u64,
    uploads: &mut [Box<dyn Upload>],
) -> Result<Pumped, PortError> {
    let mut process = conn.dump(snapshot, compress).map_err(pg)?;
    match pump(process.output(), part, uploads).await {
        Ok(p) => process.wait().await.map_err(pg).map(|()| p),
        Err(e) => {
            process.kill().await;
            Err(e)
        }
    }
}

/// The dump's upload begun in every destination; none left open if one cannot begin.
async fn begin_uploads(
    to: &[Destination],
    req: &PutRequest,
) -> Result<Vec<Box<dyn Upload>>, PortError> {
    let mut uploads: Vec<Box<dyn Upload>> = vec![];
    for d in to {
        match d.store.begin_upload(req).await {
            Ok(u) => uploads.push(u),
            Err(e) => {
                abort(uploads).await;
                return Err(object(e));
            }
        }
    }
    Ok(uploads)
}

/// The server, awake, and the `pg_dump` version, when it can dump that server (a `pg_dump`
/// older than the server cannot).
async fn dumpable(conn: &PgConn) -> Result<(twincloud_postgres::ServerInfo, String), PortError> {
    let server = conn.wake().await.map_err(pg)?;
    let (dump_major, pg_dump_version) = conn.tools().version("pg_dump").await.map_err(pg)?;
    if dump_major < server.major {
        return Err(pg(PgError {
            kind: PgErrorKind::Tooling,
            message: format!(
                "{pg_dump_version} cannot dump a PostgreSQL {} server: ship pg_dump {} or newer (the Lambda layer's PG_MAJOR, the image's postgresql-client, or `bin_dir`)",
                server.version, server.major
            ),
        }));
    }
    Ok((server, pg_dump_version))
}

/// Finishes the dump's upload in every destination, its manifest written beside it once the
/// dump is whole; the destinations that failed, with why.
async fn finish_everywhere(
    uploads: Vec<Box<dyn Upload>>,
    to: &[Destination],
    stem: &str,
    manifest: &DumpManifest,
) -> Result<Vec<(String, PortError)>, PortError> {
    let body = serde_json::to_vec_pretty(manifest)
        .map_err(|e| PortError::permanent(format!("manifest: {e}")))?;
    let manifest_key = dumps::key(stem, DumpPart::Manifest);
    let finishes = uploads.into_iter().zip(to).map(|(u, d)| {
        let (md5, body, manifest_key) = (&manifest.md5, &body, &manifest_key);
        async move {
            u.finish(md5).await.map_err(object)?;
            d.store.put_bytes(manifest_key, body).await.map_err(object)
        }
    });
    let failed = join_all(finishes)
        .await
        .into_iter()
        .zip(to)
        .filter_map(|(r, d)| r.err().map(|e| (d.name.clone(), e)))
        .collect();
    Ok(failed)
}

async fn abort(uploads: Vec<Box<dyn Upload>>) {
    join_all(uploads.into_iter().map(|u| u.abort())).await;
}

/// Size and digests of what went through.
pub(crate) struct Pumped {
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

/// Reads `from` in chunks of `part` bytes and writes each to every upload, reading the next
/// chunk while the previous one is written.
async fn pump<R: tokio::io::AsyncRead + Unpin>(
    from: &mut R,
    part: u64,
    uploads: &mut [Box<dyn Upload>],
) -> Result<Pumped, PortError> {
    let part = usize::try_from(part).unwrap_or(8 << 20);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let reader = async move {
        loop {
            let mut chunk = Vec::with_capacity(part);
            while chunk.len() < part {
                let n = (&mut *from)
                    .take((part - chunk.len()) as u64)
                    .read_to_end(&mut chunk)
                    .await
                    .map_err(|e| PortError::transient(format!("reading pg_dump's output: {e}")))?;
                if n == 0 {
                    break;
                }
            }
            let last = chunk.len() < part;
            if !chunk.is_empty() && tx.send(chunk).await.is_err() {
                // The writer stopped on an error, which it reports.
                return Ok(());
            }
            if last {
                return Ok::<(), PortError>(());
            }
        }
    };
    let writer = async {
        let mut md5 = ContentDigest::new();
        let mut sha = sha2::Sha256::new();
        while let Some(chunk) = rx.recv().await {
            md5.update(&chunk);
            sha.update(&chunk);
            // Every upload but the last takes a copy; the last takes the chunk itself.
            let mut pending = Vec::with_capacity(uploads.len());
            if let Some((last, rest)) = uploads.split_last_mut() {
                for u in rest {
                    pending.push(u.write(chunk.clone()));
                }
                pending.push(last.write(chunk));
            }
            for r in join_all(pending).await {
                r.map_err(object)?;
            }
        }
        let size = md5.len();
        let (md5, _) = md5.finish();
        Ok::<Pumped, PortError>(Pumped {
            size,
            md5,
            sha256: hex(&sha.finalize()),
        })
    };
    let ((), pumped) = try_join(reader, writer).await?;
    Ok(pumped)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
