//! `twincloud sync SRC DST`: the sync engine with a progress line and a summary.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use twincloud_core::planner::sync::DeletePolicy;
use twincloud_functions::bucket_sync::engine::{Progress, SyncOptions, SyncSummary};

/// Arguments of `twincloud sync`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// Source: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, file:///PATH or a path.
    src: String,
    /// Destination, in the same forms.
    dst: String,
    /// Also delete what is only in the destination (never after a failed copy or listing,
    /// never beyond the bounds).
    #[arg(long)]
    delete: bool,
    /// At most this many deletes.
    #[arg(long, default_value_t = 1000)]
    max_delete: u64,
    /// At most this percentage of the destination's objects deleted.
    #[arg(long, default_value_t = 10.0)]
    max_delete_percent: f64,
    /// Objects in flight at most; the number adapts below it to what the stores sustain.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Keep exactly --concurrency in flight instead of adapting.
    #[arg(long)]
    no_adapt: bool,
    /// Object content held in memory at once, in MiB, whatever the concurrency.
    #[arg(long, default_value_t = 256)]
    memory_mib: u64,
    /// Only keys under this prefix (relative to SRC and DST).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Resume after this key (the cursor a stopped run printed).
    #[arg(long)]
    start_after: Option<String>,
    /// Stop taking new objects after this many seconds and print a cursor to resume from.
    #[arg(long)]
    time_limit: Option<u64>,
    /// List what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// No progress line, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

/// Runs the command; returns the exit code (0 done, 1 some object failed, 2 bad arguments).
pub async fn run(a: SyncArgs, json: bool) -> i32 {
    let (src_loc, dst_loc) = match (
        a.src.parse::<twincloud_core::Location>(),
        a.dst.parse::<twincloud_core::Location>(),
    ) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if !(0.0..=100.0).contains(&a.max_delete_percent) {
        eprintln!("error: --max-delete-percent must be between 0 and 100");
        return 2;
    }
    let progress = Arc::new(Progress::default());
    let opts = SyncOptions {
        concurrency: a.concurrency,
        adaptive: !a.no_adapt,
        memory_budget: a.memory_mib.max(1) * 1024 * 1024,
        deletes: DeletePolicy {
            enabled: a.delete,
            max_count: a.max_delete,
            max_fraction: a.max_delete_percent / 100.0,
        },
        dry_run: a.dry_run,
        prefix: a.prefix.clone(),
        start_after: a.start_after.clone(),
        stop_at: a
            .time_limit
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s)),
        progress: Some(progress.clone()),
    };
    let clouds = twincloud_runtime::Clouds::default();
    let (source, destination) = match (
        twincloud_runtime::stores::object_store(&src_loc, &clouds).await,
        twincloud_runtime::stores::object_store(&dst_loc, &clouds).await,
    ) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let started = Instant::now();
    let ticker = (!a.quiet && !json && std::io::stderr().is_terminal())
        .then(|| progress_bar(progress.clone()));
    let result = twincloud_functions::bucket_sync::engine::sync(source, destination, opts).await;
    if let Some((bar, t)) = ticker {
        t.abort();
        bar.finish_and_clear();
    }
    match result {
        Ok(s) if s.unreachable.is_some() => {
            // A store that does not exist or refuses access: named, and no object counted as
            // failed (a retry fixes nothing; the arguments or the permissions do).
            if json {
                twincloud_runtime::outln!(
                    "{}",
                    serde_json::to_string_pretty(&s).unwrap_or_default()
                );
            }
            eprintln!(
                "error: {}: check the location and the credentials' access to it",
                s.unreachable.as_deref().unwrap_or_default()
            );
            2
        }
        Ok(s) => {
            if json {
                twincloud_runtime::outln!(
                    "{}",
                    serde_json::to_string_pretty(&s).unwrap_or_default()
                );
            } else {
                print_summary(&a.src, &a.dst, &s, started.elapsed());
            }
            i32::from(s.failed > 0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// A progress line on standard error (indicatif: sizes, rate and ETA), fed from the run's
/// counters four times a second.
fn progress_bar(progress: Arc<Progress>) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {msg}  {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}  ETA {eta}",
    ) {
        bar.set_style(style);
    }
    let shown = bar.clone();
    let task = tokio::spawn(async move {
        loop {
            let s = progress.snapshot();
            shown.set_length(s.planned_bytes);
            shown.set_position(s.bytes);
            shown.set_message(s.counts());
            shown.tick();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (bar, task)
}

fn print_summary(src: &str, dst: &str, s: &SyncSummary, took: Duration) {
    let (verb, deleted) = if s.dry_run {
        ("would copy", "would delete")
    } else {
        ("copied", "deleted")
    };
    let secs = took.as_secs_f64();
    twincloud_runtime::outln!(
        "{src} → {dst}: {verb} {} object(s) ({}), {} unchanged, {deleted} {}, {} failed; {} requests in {secs:.2}s",
        s.copied,
        humansize::format_size(s.bytes, humansize::BINARY),
        s.skipped,
        s.deleted,
        s.failed,
        s.requests
    );
    if s.size_only > 0 {
        twincloud_runtime::outln!(
            "  {} object(s) could only be compared by size (no checksum in common)",
            s.size_only
        );
    }
    if s.retained > 0 {
        twincloud_runtime::outln!(
            "  {} destination object(s) under retention or a hold were left alone",
            s.retained
        );
    }
    if let Some(why) = &s.deletes_refused {
        twincloud_runtime::outln!("  {why}");
    }
    if let Some(cursor) = &s.cursor {
        twincloud_runtime::outln!(
            "  stopped at the time limit; resume with --start-after {cursor:?}"
        );
    }
    for e in &s.errors {
        twincloud_runtime::outln!("  FAILED: {e}");
    }
    if s.failed > s.errors.len() as u64 {
        twincloud_runtime::outln!("  … and {} more", s.failed - s.errors.len() as u64);
    }
}
