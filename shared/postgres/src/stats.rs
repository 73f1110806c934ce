//! Per-table row counts and an order-independent checksum of their content, read in one
//! statement (no function created, so it runs on a read-only snapshot and on a fresh restore
//! alike). The checksum sums a 64-bit hash of each row's text form, which a restore
//! reproduces exactly (PostgreSQL 11 or later, for `hashtextextended`).

use twincloud_core::planner::dumps::{LARGE_OBJECTS, TableStat};

use crate::conn::PgConn;
use crate::error::{PgError, PgErrorKind};

const TABLES: &str = "SELECT format('%I.%I', n.nspname, c.relname), \
 (xpath('/row/c/text()', x.q))[1]::text, (xpath('/row/h/text()', x.q))[1]::text \
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, \
 LATERAL (SELECT query_to_xml(format('SELECT count(*) AS c, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) AS h FROM ONLY %I.%I t', n.nspname, c.relname), false, true, '') AS q) x \
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
 AND n.nspname !~ '^pg_(toast|temp)' ORDER BY 1";

const LARGE: &str = "SELECT count(*)::text, coalesce(sum(hashtextextended(md5(lo_get(oid)), 0)::numeric), 0)::text FROM pg_largeobject_metadata";

impl PgConn {
    /// Every table's rows and checksum, and the large objects', read in the exported snapshot
    /// `snapshot` when given (the dump's), else now.
    pub async fn table_stats(&self, snapshot: Option<&str>) -> Result<Vec<TableStat>, PgError> {
        let begin = match snapshot {
            Some(id) => format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSET TRANSACTION SNAPSHOT {};\n",
                quote_literal(id)
            ),
            None => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n".to_owned(),
        };
        // One result (psql ends each result with a newline, not the record separator): the
        // tables, then the large objects under their pseudo-table's name.
        let sql = format!(
            "{begin}({TABLES}) UNION ALL (SELECT '{LARGE_OBJECTS}', lo.* FROM ({LARGE}) lo);\nCOMMIT;\n"
        );
        let rows = self.query(&sql).await?;
        rows.into_iter()
            .map(|r| match r.as_slice() {
                [table, rows, checksum] => Ok(TableStat {
                    table: table.clone(),
                    rows: rows.parse().map_err(|_| unreadable(table, rows))?,
                    checksum: checksum.clone(),
                }),
                _ => Err(PgError::new(
                    PgErrorKind::Failed,
                    format!("{}: unexpected row counting tables: {r:?}", self.describe()),
                )),
            })
            .collect()
    }
}

fn unreadable(table: &str, rows: &str) -> PgError {
    PgError::new(
        PgErrorKind::Failed,
        format!("{table}: unreadable row count `{rows}`"),
    )
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
