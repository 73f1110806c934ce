//! Where `pg_dump`, `pg_restore` and `psql` are, and which version they are.

use std::path::{Path, PathBuf};

use crate::error::{PgError, PgErrorKind};

/// The Lambda layer's directory (`infra/pg-layer`): `/opt` is where layers are mounted.
pub const LAMBDA_LAYER_BIN: &str = "/opt/pgsql/bin";

/// The PostgreSQL client programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTools {
    dir: Option<PathBuf>,
}

impl PgTools {
    /// The configured directory, else `TWINCLOUD_PG_BIN`, else the Lambda layer's when it
    /// exists, else `PATH`.
    pub fn locate(configured: Option<&str>) -> PgTools {
        let dir = configured
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("TWINCLOUD_PG_BIN").map(PathBuf::from))
            .or_else(|| {
                Path::new(LAMBDA_LAYER_BIN)
                    .is_dir()
                    .then(|| PathBuf::from(LAMBDA_LAYER_BIN))
            });
        PgTools { dir }
    }

    /// The tools in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> PgTools {
        PgTools {
            dir: Some(dir.into()),
        }
    }

    /// The path (or bare name, looked up in `PATH`) of `program`.
    pub fn program(&self, program: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.join(program),
            None => PathBuf::from(program),
        }
    }

    /// A command running `program`. In the layer's layout (`bin/`, `libexec/`, `lib/` with
    /// its own loader, see `infra/pg-layer/build.sh`) the program is started through the
    /// bundled loader and libraries, so no shell is needed to run it (distroless images have
    /// none) and the host's libraries do not matter.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        if let Some((loader, lib, real)) = self.bundled(program) {
            let mut c = tokio::process::Command::new(loader);
            c.arg("--library-path").arg(lib).arg(real);
            return c;
        }
        tokio::process::Command::new(self.program(program))
    }

    fn bundled(&self, program: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
        let root = self.dir.as_ref()?.parent()?;
        let real = root.join("libexec").join(program);
        let lib = root.join("lib");
        let loader = std::fs::read_dir(&lib)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ld-linux"))
            })?;
        real.is_file().then_some((loader, lib, real))
    }

    /// The major version and the full `--version` line of `program`.
    pub async fn version(&self, program: &str) -> Result<(u32, String), PgError> {
        let path = self.program(program);
        let out = self
            .command(program)
            .arg("--version")
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| {
                PgError::new(
                    PgErrorKind::Tooling,
                    format!(
                        "{} cannot be run ({e}): install PostgreSQL's client programs (Debian: postgresql-client), attach the Lambda layer, or set `bin_dir`",
                        path.display()
                    ),
                )
            })?;
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let major = major_of(&line).ok_or_else(|| {
            PgError::new(
                PgErrorKind::Tooling,
                format!("{}: unreadable version `{line}`", path.display()),
            )
        })?;
        Ok((major, line))
    }
}

/// The major version in `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` or
/// `16devel`.
pub(crate) fn major_of(line: &str) -> Option<u32> {
    line.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(|w| {
            let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn majors_are_read() {
        assert_eq!(
            super::major_of("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(super::major_of("psql (PostgreSQL) 17devel"), Some(17));
        assert_eq!(super::major_of("9.6.24"), Some(9));
        assert_eq!(super::major_of("nothing"), None);
    }
}
