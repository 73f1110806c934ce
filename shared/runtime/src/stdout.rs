//! Standard output for one-shot runs and the CLI. `println!` panics when the reader has gone
//! (`twincloud status | head`, a pager quit early); here the rest of the output is dropped and
//! the command finishes its work and returns its own exit code, as if nobody had been reading.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static WARNED: AtomicBool = AtomicBool::new(false);

/// Writes `args` (and a newline if asked) to standard output; see the module docs.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = written {
        // Any other failure (a full disk behind a redirect) is said once, on standard error.
        if e.kind() != std::io::ErrorKind::BrokenPipe && !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!("error: writing to standard output: {e}");
        }
    }
}

/// `println!` that survives a closed standard output ([`write`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::stdout::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*), true)
    };
}

/// `print!` that survives a closed standard output ([`write`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*), false)
    };
}
