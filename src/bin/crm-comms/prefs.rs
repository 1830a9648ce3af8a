//! `crm-comms prefs`: read layered preferences, and where a value came from.

use super::*;

#[derive(Subcommand)]
pub(crate) enum PrefsCommand {
    /// Resolve a preference and say where the value came from.
    #[command(
        after_help = "Example:\n  crm-comms prefs get --store prefs.toml --section Phone --key PhoneLinkFormat --user 7 --group 3 --explain"
    )]
    Get {
        /// The preference store (`.toml`, else JSON).
        #[arg(long)]
        store: PathBuf,
        /// The section.
        #[arg(long)]
        section: String,
        /// The key.
        #[arg(long)]
        key: String,
        /// The user's id.
        #[arg(long)]
        user: Option<u32>,
        /// The user's group id.
        #[arg(long)]
        group: Option<u32>,
        /// The database id.
        #[arg(long)]
        database: Option<u32>,
        /// Show every level considered.
        #[arg(long)]
        explain: bool,
    },
}

pub(crate) fn prefs_get(
    json: bool,
    path: &std::path::Path,
    section: &str,
    key: &str,
    ctx: &Context,
    explain: bool,
) -> Result<u8, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            exit::FAILURE,
            format!("{} cannot be read: {e}", path.display()),
        )
    })?;
    let toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let prefs = if toml {
        Preferences::from_toml_str(&text)
    } else {
        Preferences::from_json_str(&text)
    }
    .map_err(|e| fail(exit::BAD_INPUT, format!("{}: {e}", path.display())))?;
    let snapshot = prefs.snapshot();
    let resolved = snapshot.get_str(ctx, section, key);
    let explanation = explain.then(|| snapshot.explain(ctx, section, key).to_string());
    if json {
        print_json(&serde_json::json!({
            "section": section,
            "key": key,
            "value": resolved.as_ref().map(crm_comms::prefs::Resolved::value),
            "origin": resolved.as_ref().map(|r| r.origin().to_string()),
            "locked_by": resolved.as_ref().and_then(crm_comms::prefs::Resolved::locked_by).map(|o| o.to_string()),
            "explain": explanation,
        }));
    } else {
        match &resolved {
            Some(r) => {
                out!("{}", r.value());
                out!("from: {}", r.origin());
                if let Some(l) = r.locked_by() {
                    out!("locked by: {l}");
                }
            }
            None => out!("(not set)"),
        }
        if let Some(e) = explanation {
            out!("{e}");
        }
    }
    Ok(if resolved.is_some() { 0 } else { exit::FAILURE })
}
