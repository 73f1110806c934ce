//! The test kit's PostgreSQL: a real server in a temporary directory, password auth, UTF-8.
#![allow(clippy::unwrap_used)]

use twincloud_testkit::postgres::Postgres;

#[tokio::test]
async fn a_real_server_starts_with_a_password_and_keeps_unicode() {
    let pg = Postgres::start().await;
    pg.create_database("aion").await;
    pg.psql(
        "aion",
        "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'ünïcødé ✓ ' || g FROM generate_series(1, 1000) g;",
    )
    .await;
    assert_eq!(pg.psql("aion", "SELECT count(*) FROM notes").await, "1000");
    assert_eq!(
        pg.psql("aion", "SELECT body FROM notes WHERE id = 7").await,
        "ünïcødé ✓ 7"
    );
    // A wrong password is refused.
    let wrong = pg.url("aion").replace(":pw", ":nope");
    let out = std::process::Command::new(pg.bin().join("psql"))
        .args(["-X", "-At", "-d", &wrong, "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
