//! The sync engine behind `twincloud sync` and the bucket-sync function.
//!
//! Both listings stream in key order and are merged by the pure planner; copies run in their
//! own tasks (bounded by a concurrency and a memory budget); the run can stop at a deadline
//! and hand a cursor to the next one; deletes come last and only when the delete gate allows.

mod copy;
mod merge;
pub mod progress;
mod race;

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use twincloud_core::planner::concurrency::ConcurrencyController;
use twincloud_core::planner::sync::{
    Comparison, DeleteGate, DeletePolicy, Diff, Entry, ListingEnd, delete_gate, settle,
};
use twincloud_core::ports::{ObjectError, ObjectStore, Precondition, Retry, Version};

pub use copy::Outcome;
use copy::{Ends, with_retries};
use merge::{Merge, Side};
pub use progress::Progress;

use twincloud_runtime::error::RunError;

/// Options of one sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Objects in flight at most.
    pub concurrency: usize,
    /// Find the best number in flight up to `concurrency` while running (a store that
    /// serializes requests gets fewer); when off, always `concurrency`.
    pub adaptive: bool,
    /// Bytes of object content held in memory at once, whatever the concurrency.
    pub memory_budget: u64,
    /// Delete policy (off by default).
    pub deletes: DeletePolicy,
    /// List what would change; change nothing.
    pub dry_run: bool,
    /// Only keys under this prefix (a partition of the pair).
    pub prefix: String,
    /// Resume after this key (the cursor of an earlier run).
    pub start_after: Option<String>,
    /// Stop taking new keys at this instant, finish those in flight, return a cursor.
    pub stop_at: Option<tokio::time::Instant>,
    /// Live counters, for a progress display.
    pub progress: Option<Arc<Progress>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            concurrency: 64,
            adaptive: true,
            memory_budget: 256 * 1024 * 1024,
            deletes: DeletePolicy {
                enabled: false,
                max_count: 1000,
                max_fraction: 0.1,
            },
            dry_run: false,
            prefix: String::new(),
            start_after: None,
            stop_at: None,
            progress: None,
        }
    }
}

pub use twincloud_core::records::sync::SyncSummary;

/// What became of one copy task.
enum Done {
    Copied(u64),
    Same(Comparison),
    Retained,
    Vanished,
    Failed(String),
}

/// Syncs `source` to `destination`.
pub async fn sync(
    source: Arc<dyn ObjectStore>,
    destination: Arc<dyn ObjectStore>,
    opts: SyncOptions,
) -> Result<SyncSummary, RunError> {
    let requests_before = source.requests() + destination.requests();
    let mut pass = Pass::new(source.clone(), destination.clone(), &opts);
    loop {
        pass.fill(&opts).await;
        if pass.stopped || pass.exhausted {
            pass.progress
                .listing_done
                .store(1, std::sync::atomic::Ordering::Relaxed);
        }
        match pass.tasks.join_next().await {
            Some(Ok(landed)) => pass.landed(landed, opts.dry_run),
            Some(Err(e)) => lock(&pass.summary).fail(format!("a copy task failed: {e}")),
            None if pass.stopped || pass.exhausted => break,
            None => {}
        }
        if pass.to_recheck.len() >= race::BATCH {
            // Alongside the copies still to make: a re-listing's latency is not theirs.
            let (ends, prefix) = (pass.ends.clone(), opts.prefix.clone());
            let batch = std::mem::take(&mut pass.to_recheck);
            pass.rechecks
                .spawn(async move { race::recheck(&ends, &prefix, batch).await });
        }
    }
    let mut out = pass.finish(&opts).await;
    out.requests = (source.requests() + destination.requests()).saturating_sub(requests_before);
    Ok(out)
}

/// One pass in flight: the merged listings, the copies running, what is left to delete and to
/// re-check, and the summary so far.
struct Pass {
    ends: Ends,
    progress: Arc<Progress>,
    summary: Arc<Mutex<SyncSummary>>,
    merge: Merge,
    tasks: JoinSet<(race::Copied, u64, Done)>,
    source_end: ListingEnd,
    destination_end: ListingEnd,
    extras: Vec<Entry>,
    extra_count: u64,
    to_recheck: Vec<race::Copied>,
    rechecks: JoinSet<race::Recheck>,
    last_key: Option<String>,
    stopped: bool,
    exhausted: bool,
    concurrency: usize,
    started: tokio::time::Instant,
    limiter: ConcurrencyController,
}

impl Pass {
    fn new(
        source: Arc<dyn ObjectStore>,
        destination: Arc<dyn ObjectStore>,
        opts: &SyncOptions,
    ) -> Self {
        let budget_kib = u32::try_from((opts.memory_budget / 1024).max(1)).unwrap_or(u32::MAX);
        let merge = Merge::new(
            source.list(&opts.prefix, opts.start_after.as_deref()),
            destination.list(&opts.prefix, opts.start_after.as_deref()),
        );
        let concurrency = opts.concurrency.max(1);
        Pass {
            ends: Ends {
                source,
                destination,
                memory: Arc::new(Semaphore::new(budget_kib as usize)),
                budget_kib,
            },
            progress: opts.progress.clone().unwrap_or_default(),
            summary: Arc::new(Mutex::new(SyncSummary {
                dry_run: opts.dry_run,
                ..Default::default()
            })),
            merge,
            tasks: JoinSet::new(),
            source_end: ListingEnd::Complete,
            destination_end: ListingEnd::Complete,
            extras: Vec::new(),
            extra_count: 0,
            to_recheck: Vec::new(),
            rechecks: JoinSet::new(),
            last_key: None,
            stopped: false,
            exhausted: false,
            concurrency,
            started: tokio::time::Instant::now(),
            limiter: if opts.adaptive {
                ConcurrencyController::new(8, 2, concurrency, 0.0)
            } else {
                ConcurrencyController::new(concurrency, concurrency, concurrency, 0.0)
            },
        }
    }

    /// Starts copies while there is room, keys left and time: the listings merged as they go.
    async fn fill(&mut self, opts: &SyncOptions) {
        while !self.stopped && !self.exhausted && self.tasks.len() < self.limiter.limit() {
            // At least one key per run, so that a run started late still moves the cursor.
            if self.last_key.is_some()
                && opts
                    .stop_at
                    .is_some_and(|t| tokio::time::Instant::now() >= t)
            {
                self.stopped = true;
                return;
            }
            let diff = match self.merge.next().await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    self.exhausted = true;
                    return;
                }
                Err((side, e)) => {
                    self.listing_failed(side, &e);
                    return;
                }
            };
            self.progress
                .listed
                .store(self.merge.counts().0, std::sync::atomic::Ordering::Relaxed);
            let previous = self.last_key.take();
            let (key, task) = classify(
                diff,
                &mut lock(&self.summary),
                &mut self.extras,
                &mut self.extra_count,
            );
            self.last_key = Some(key);
            if let Some(task) = task {
                Progress::add(&self.progress.planned, 1);
                Progress::add(&self.progress.planned_bytes, task.src.size);
                let (ends, dry_run) = (self.ends.clone(), opts.dry_run);
                let mark = race::Copied {
                    key: task.src.key.clone(),
                    version: task.src.version.clone(),
                    created: task.dst.is_none(),
                    position: self.merge.counts().0,
                    previous,
                };
                self.tasks.spawn(async move {
                    let size = task.src.size;
                    (mark, size, run_task(&ends, task, dry_run).await)
                });
            }
        }
    }

    /// A listing that failed ends the pass: a store that is not there (or refuses) is
    /// unreachable, anything else a failure the next pass retries.
    fn listing_failed(&mut self, side: Side, e: &ObjectError) {
        // (A store's own error often says already what it was listing.)
        let why = match e.to_string() {
            e if e.starts_with("listing ") => e,
            e => format!("listing {}: {e}", describe(&self.ends, side)),
        };
        match side {
            Side::Source => self.source_end = ListingEnd::Failed(why.clone()),
            Side::Destination => self.destination_end = ListingEnd::Failed(why.clone()),
        }
        if e.retry() == Retry::Permanent {
            lock(&self.summary).unreachable = Some(why);
        } else {
            lock(&self.summary).fail(why);
        }
        self.exhausted = true;
    }

    /// A copy task's end, counted.
    fn landed(&mut self, (mark, size, done): (race::Copied, u64, Done), dry_run: bool) {
        let key = mark.key.clone();
        let moved = if let Done::Copied(n) = &done { *n } else { 0 };
        let before = self.limiter.limit();
        if self
            .limiter
            .completed(moved, self.started.elapsed().as_secs_f64())
            != before
        {
            tracing::debug!(limit = self.limiter.limit(), "copies in flight");
        }
        let progress = &self.progress;
        let mut s = lock(&self.summary);
        match done {
            Done::Copied(n) => {
                s.copied += 1;
                s.bytes += n;
                Progress::add(&progress.copied, 1);
                Progress::add(&progress.bytes, n);
                if !dry_run {
                    self.to_recheck.push(mark);
                }
            }
            Done::Same(by) => {
                s.skipped += 1;
                if by == Comparison::SizeOnly {
                    s.size_only += 1;
                }
                progress
                    .planned_bytes
                    .fetch_sub(size, std::sync::atomic::Ordering::Relaxed);
            }
            Done::Retained => s.retained += 1,
            Done::Vanished => s.skipped += 1,
            Done::Failed(why) => {
                Progress::add(&progress.failed, 1);
                s.fail(format!("{key}: {why}"));
            }
        }
    }

    /// The copies landed: whatever moved in the source meanwhile is repaired, then the deletes
    /// the gate allows are made over what was listed (the whole range, or up to the cursor).
    async fn finish(mut self, opts: &SyncOptions) -> SyncSummary {
        let r = race::recheck(
            &self.ends,
            &opts.prefix,
            std::mem::take(&mut self.to_recheck),
        )
        .await;
        r.into_summary(&mut lock(&self.summary));
        while let Some(r) = self.rechecks.join_next().await {
            match r {
                Ok(r) => r.into_summary(&mut lock(&self.summary)),
                Err(e) => lock(&self.summary).fail(format!("a re-check task failed: {e}")),
            }
        }
        let mut out = lock(&self.summary).clone();
        out.listed = self.merge.counts();
        out.complete = !self.stopped
            && self.source_end == ListingEnd::Complete
            && self.destination_end == ListingEnd::Complete;
        if self.stopped {
            out.cursor = self.last_key.take();
        }
        let gate = delete_gate(
            &opts.deletes,
            &self.source_end,
            out.listed.0,
            &self.destination_end,
            out.listed.1,
            out.failed,
            self.extra_count,
        );
        match gate {
            DeleteGate::Refuse(why) => out.deletes_refused = Some(why),
            DeleteGate::Allow if opts.dry_run => out.deleted = self.extra_count,
            DeleteGate::Allow => {
                delete_extras(&self.ends, self.extras, self.concurrency, &mut out).await;
            }
        }
        out
    }
}

fn lock(s: &Mutex<SyncSummary>) -> std::sync::MutexGuard<'_, SyncSummary> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn describe(ends: &Ends, side: Side) -> String {
    match side {
        Side::Source => ends.source.describe(),
        Side::Destination => ends.destination.describe(),
    }
}

/// A key that needs work: a copy, or first a closer look.
struct Task {
    src: Entry,
    dst: Option<Entry>,
    /// Same size, no digest in common: fetch digests before deciding.
    unsure: bool,
}

/// Counts what needs no work and returns the key and the task of what does.
fn classify(
    diff: Diff,
    s: &mut SyncSummary,
    extras: &mut Vec<Entry>,
    extra_count: &mut u64,
) -> (String, Option<Task>) {
    match diff {
        Diff::New(src) => (
            src.key.clone(),
            Some(Task {
                src,
                dst: None,
                unsure: false,
            }),
        ),
        Diff::Changed {
            source,
            destination,
            ..
        } => (
            source.key.clone(),
            Some(Task {
                src: source,
                dst: Some(destination),
                unsure: false,
            }),
        ),
        Diff::Unsure {
            source,
            destination,
        } => (
            source.key.clone(),
            Some(Task {
                src: source,
                dst: Some(destination),
                unsure: true,
            }),
        ),
        Diff::Same { key, by } => {
            s.skipped += 1;
            if by == Comparison::SizeOnly {
                s.size_only += 1;
            }
            (key, None)
        }
        Diff::Retained { key } => {
            s.retained += 1;
            tracing::warn!(key = %key, "destination object is under retention or a hold: left alone");
            (key, None)
        }
        Diff::Extra(e) => {
            *extra_count += 1;
            // Beyond any sane max_delete the gate refuses anyway: keep memory bounded.
            if extras.len() < 1_000_000 {
                extras.push(e.clone());
            }
            (e.key, None)
        }
    }
}

/// Fills in the digests a listing did not give: a directory hashes its file, a bucket reads
/// the digests twincloud stored in metadata.
async fn resolve(ends: &Ends, task: &mut Task) -> Result<(), ObjectError> {
    let lacks = |e: &Entry| e.md5.is_none() && e.crc32c.is_none();
    if lacks(&task.src)
        && let Some(h) = ends.source.head(&task.src.key).await?
    {
        task.src.md5 = h.info.md5;
        task.src.crc32c = h.info.crc32c;
    }
    if let Some(dst) = &mut task.dst
        && lacks(dst)
        && let Some(h) = ends.destination.head(&dst.key).await?
    {
        dst.md5 = h.info.md5;
        dst.crc32c = h.info.crc32c;
        dst.source_version = h.info.source_version;
    }
    Ok(())
}

async fn run_task(ends: &Ends, mut task: Task, dry_run: bool) -> Done {
    if task.unsure {
        if let Err(e) = with_retries(|| {
            let mut t = Task {
                src: task.src.clone(),
                dst: task.dst.clone(),
                unsure: true,
            };
            async move { resolve(ends, &mut t).await.map(|()| t) }
        })
        .await
        .map(|t| task = t)
        {
            return Done::Failed(e.to_string());
        }
        if let Some(dst) = task.dst.clone() {
            match settle(task.src.clone(), dst) {
                Diff::Same { by, .. } => return Done::Same(by),
                Diff::Retained { .. } => return Done::Retained,
                _ => {}
            }
        }
    }
    if dry_run {
        return Done::Copied(task.src.size);
    }
    let copied = with_retries(|| ends.copy(&task.src, task.dst.as_ref())).await;
    match copied {
        Ok(n) => Done::Copied(n),
        // Either side moved since the listing (an event-driven copy, a new upload): look at
        // both again and copy what is current.
        Err(ObjectError::Changed(_)) | Err(ObjectError::NotFound(_)) => {
            match with_retries(|| ends.copy_current(&task.src.key)).await {
                Ok(Outcome::Copied(n)) => Done::Copied(n),
                Ok(Outcome::Same(by)) => Done::Same(by),
                // (`Rehearsed` is only said by `unless_rehearsed`, never by `copy_current`.)
                Ok(
                    Outcome::SourceGone | Outcome::Deleted | Outcome::Foreign | Outcome::Rehearsed,
                ) => Done::Vanished,
                Ok(Outcome::Retained) => Done::Retained,
                Err(e) => Done::Failed(e.to_string()),
            }
        }
        Err(ObjectError::Retained(_)) => Done::Retained,
        Err(e) => Done::Failed(e.to_string()),
    }
}

async fn delete_extras(ends: &Ends, extras: Vec<Entry>, concurrency: usize, out: &mut SyncSummary) {
    use futures_util::StreamExt;
    let results: Vec<(String, Result<(), ObjectError>)> = futures_util::stream::iter(extras)
        .map(|e| async move {
            match race::source_has(ends, &e.key).await {
                Ok(false) => {}
                Ok(true) => return (e.key, Err(ObjectError::Changed(String::new()))),
                Err(err) => return (e.key, Err(err)),
            }
            // Only the version that was listed: an object written since is not an extra.
            let when = e
                .version
                .clone()
                .map_or(Precondition::None, |v| Precondition::Matches(Version(v)));
            let r = with_retries(|| ends.destination.delete(&e.key, &when)).await;
            (e.key, r)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (key, r) in results {
        match r {
            Ok(()) => out.deleted += 1,
            Err(ObjectError::Retained(_)) => out.retained += 1,
            Err(ObjectError::Changed(_)) => {
                tracing::info!(key = %key, "not deleted: written since it was listed, or back in the source");
            }
            Err(e) => out.fail(format!("delete {key}: {e}")),
        }
    }
}

impl SyncOptions {
    /// These options for a pass made as an effect of `fx`'s event: in a dry run the pass
    /// compares and says what it would copy, and copies nothing.
    pub fn under(mut self, fx: &twincloud_runtime::effects::Effects) -> Self {
        self.dry_run = fx.dry_run();
        self
    }
}

/// `step` (a [`sync_key`] or [`delete_copy_of_gone`]) as an effect of `fx`'s event: in a dry
/// run it is not run, and nothing is read, copied or deleted.
pub async fn unless_rehearsed(
    fx: &twincloud_runtime::effects::Effects,
    step: impl std::future::Future<Output = Result<Outcome, ObjectError>>,
) -> Result<Outcome, ObjectError> {
    if fx.dry_run() {
        return Ok(Outcome::Rehearsed);
    }
    step.await
}

/// Copies (or, if `delete_if_gone` and the source no longer has it, deletes) the one object
/// under `key`: what an object event asks for. Whatever the event said, the current source
/// object is what gets copied, so a stale or repeated event changes nothing.
pub async fn sync_key(
    source: Arc<dyn ObjectStore>,
    destination: Arc<dyn ObjectStore>,
    key: &str,
) -> Result<Outcome, ObjectError> {
    let ends = Ends::for_one_key(source, destination);
    with_retries(|| ends.copy_current(key)).await
}

/// Deletes the destination's copy of `key` once the source no longer has it, and only a copy
/// twincloud wrote (it records the source version it copied): an object someone else put in
/// the destination is never deleted by an event. The source is looked at last; if it came
/// back, it is copied instead.
pub async fn delete_copy_of_gone(
    source: Arc<dyn ObjectStore>,
    destination: Arc<dyn ObjectStore>,
    key: &str,
) -> Result<Outcome, ObjectError> {
    let ends = Ends::for_one_key(source, destination);
    let deleted = with_retries(|| async {
        let Some(h) = ends.destination.head(key).await? else {
            return Ok(Outcome::SourceGone);
        };
        if h.info.retained {
            return Ok(Outcome::Retained);
        }
        if h.info.source_version.is_none() {
            return Ok(Outcome::Foreign);
        }
        let when = h
            .info
            .version
            .map_or(Precondition::None, |v| Precondition::Matches(Version(v)));
        if ends.source.head(key).await?.is_some() {
            return Err(ObjectError::Changed(key.into()));
        }
        ends.destination
            .delete(key, &when)
            .await
            .map(|()| Outcome::Deleted)
    })
    .await;
    match deleted {
        Err(ObjectError::Retained(_)) => Ok(Outcome::Retained),
        Err(ObjectError::Changed(_)) => with_retries(|| ends.copy_current(key)).await,
        other => other,
    }
}
