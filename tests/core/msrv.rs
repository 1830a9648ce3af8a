//! `rust-version` in Cargo.toml is the only place the MSRV is written; this
//! checks that it is set and that no dependency in the lock file needs a
//! newer compiler than it says.

use std::process::Command;

fn version(s: &str) -> (u32, u32) {
    let mut parts = s.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn no_dependency_needs_a_newer_rust_than_ours() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        // Not --offline: metadata needs every package of the lock file,
        // including other platforms' (windows-sys), which a build on this
        // one never downloads.
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "crm-comms")
        .and_then(|p| p["rust_version"].as_str())
        .expect("rust-version is set in Cargo.toml");
    let msrv = version(ours);
    assert_eq!(ours, env!("CARGO_PKG_RUST_VERSION"));
    let too_new: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let rv = p["rust_version"].as_str()?;
            (version(rv) > msrv).then(|| format!("{} {} needs {rv}", p["name"], p["version"]))
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "rust-version {ours} is too old for: {too_new:?}"
    );
}
