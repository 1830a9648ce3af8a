//! What the gateway tests share.
// Used by modules that only build with their gateways' features.
#![allow(dead_code)]

use crm_comms::sms::{Outcome, SendReport, SmsErrorKind};

/// An outcome as (`accepted` / `rejected` / `unknown`, its kind).
pub fn category(o: &Outcome) -> (&'static str, Option<SmsErrorKind>) {
    match o {
        Outcome::Accepted { .. } => ("accepted", None),
        Outcome::Rejected(e) => ("rejected", Some(e.kind())),
        Outcome::Unknown(e) => ("unknown", Some(e.kind())),
        _ => ("other", None),
    }
}

/// Every outcome of a report as [`category`] gives it, in order.
pub fn kinds(r: &SendReport) -> Vec<(&'static str, Option<SmsErrorKind>)> {
    r.outcomes().iter().map(|o| category(&o.outcome)).collect()
}

/// Polls `probe` every `every` until it gives `Some`, for at most
/// `within`: the one way the tests wait for something to happen (never a
/// fixed sleep). `None` when it never did.
pub async fn poll<T, F, Fut>(
    within: std::time::Duration,
    every: std::time::Duration,
    mut probe: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// The PostgreSQL the tests use: `CRM_COMMS_POSTGRES_URL` if set; else a
/// throwaway cluster started with Debian's binaries (`initdb`/`pg_ctl`, as
/// the `postgres` user when the tests run as root) in a fixed temporary
/// folder, reused by later runs; else `None`, after one printed line —
/// except under `CI=true`, where a missing PostgreSQL fails the test.
#[cfg(feature = "postgres")]
pub fn postgres_url() -> Option<String> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("CRM_COMMS_POSTGRES_URL") {
            return Some(url);
        }
        match throwaway_cluster() {
            Ok(url) => Some(url),
            Err(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL is required under CI=true: {why}"
                );
                println!("skipped: no PostgreSQL ({why}); set CRM_COMMS_POSTGRES_URL");
                None
            }
        }
    })
    .clone()
}

#[cfg(feature = "postgres")]
fn throwaway_cluster() -> Result<String, String> {
    use std::process::Command;
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no /usr/lib/postgresql".to_owned())?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .find(|b| b.join("initdb").exists())
        .ok_or("no initdb")?;
    let dir = std::env::temp_dir().join("crm-comms-test-postgres");
    let data = dir.join("data");
    let port = 54329;
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let run = |program: &std::path::Path, args: &[&str]| {
        let mut c = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.args(args).output().map_err(|e| e.to_string())
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if as_root {
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status();
    }
    let data_s = data.to_string_lossy().into_owned();
    let dir_s = dir.to_string_lossy().into_owned();
    if !data.join("PG_VERSION").exists() {
        let o = run(
            &bin.join("initdb"),
            &["-D", &data_s, "-U", "postgres", "--auth=trust"],
        )?;
        if !o.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    let status = run(&bin.join("pg_ctl"), &["-D", &data_s, "status"])?;
    if !status.status.success() {
        let opts = format!("-k {dir_s} -p {port} -c listen_addresses=''");
        let o = run(
            &bin.join("pg_ctl"),
            &[
                "-D",
                &data_s,
                "-o",
                &opts,
                "-l",
                &format!("{dir_s}/log"),
                "-w",
                "start",
            ],
        )?;
        if !o.status.success() {
            return Err(format!(
                "pg_ctl start failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    Ok(format!(
        "postgres://postgres@localhost/postgres?host={dir_s}&port={port}"
    ))
}

/// A fresh, empty schema on the test PostgreSQL named `prefix` and a
/// number unique in this process.
#[cfg(feature = "postgres")]
async fn fresh_schema(url: &str, prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::PgPool::connect(url).await.expect("PostgreSQL");
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(&sql).execute(&admin).await.unwrap();
    }
    admin.close().await;
    schema
}

/// A store on a schema of its own (left for inspection until the next
/// run), or `None` when there is no PostgreSQL.
#[cfg(feature = "postgres")]
pub async fn pg_store() -> Option<crm_comms::store::postgres::PgStore> {
    use std::str::FromStr;
    let url = postgres_url()?;
    let schema = fresh_schema(&url, "crm_test").await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some(
        crm_comms::store::postgres::PgStore::connect_with(options)
            .await
            .unwrap(),
    )
}

/// The URL of a store on a fresh schema, for processes (the CLI).
#[cfg(feature = "postgres")]
pub async fn pg_schema_url() -> Option<String> {
    let url = postgres_url()?;
    let schema = fresh_schema(&url, "crm_cli").await;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

/// An Intelecom provider for `emu` (plain HTTP on loopback, a 5 s timeout).
#[cfg(all(feature = "intelecom", feature = "testing"))]
pub fn intelecom_for(
    emu: &crm_comms::testing::intelecom_emulator::IntelecomEmulator,
) -> crm_comms::intelecom::Intelecom {
    emu.client_builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A loopback Intelecom gateway with the tests' account (service 1000,
/// `crm`/`pw`), started.
#[cfg(all(feature = "intelecom", feature = "testing"))]
pub async fn intelecom_emulator() -> crm_comms::testing::intelecom_emulator::IntelecomEmulator {
    crm_comms::testing::intelecom_emulator::IntelecomEmulator::start(
        crm_comms::testing::intelecom_emulator::IntelecomWire::new(1000, "crm", "pw"),
    )
    .await
    .unwrap()
}
