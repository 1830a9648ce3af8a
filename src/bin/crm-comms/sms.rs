//! `crm-comms sms`: the settings page's "send a test SMS", and previews.

use super::*;

#[derive(Subcommand)]
pub(crate) enum SmsCommand {
    /// Send a test SMS with the CRM's SMS settings (TOML or JSON file).
    #[command(
        after_help = "Example:\n  crm-comms sms test --settings sms.toml --to \"+47 41 00 00 00\" --to 41000001\n\nA `base_url` in the file replaces the gateway's real host; a plain http:// URL\nalso needs `allow_insecure_http = true`."
    )]
    Test {
        /// The settings file (`.toml`, else JSON).
        #[arg(long)]
        settings: PathBuf,
        /// A number to send to (repeat for several).
        #[arg(long, required = true)]
        to: Vec<String>,
        /// The text (default: the library's test text).
        #[arg(long)]
        text: Option<String>,
    },
    /// Show the encoding, parts and characters left of a text.
    #[command(
        after_help = "Example:\n  crm-comms sms preview --text \"Hei på deg 😀\" --provider pswincom"
    )]
    Preview {
        /// The text.
        #[arg(long)]
        text: String,
        /// Whose limits apply.
        #[arg(long, value_enum, default_value_t = Gateway::Intelecom)]
        provider: Gateway,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Gateway {
    Intelecom,
    Pswincom,
}

pub(crate) async fn sms_test(
    json: bool,
    path: &std::path::Path,
    to: &[String],
    text: Option<&str>,
) -> Result<u8, Fail> {
    let settings = SmsSettings::load(path).map_err(|e| fail(exit::SETTINGS, e))?;
    settings.validate().map_err(|e| fail(exit::SETTINGS, e))?;
    let provider = settings
        .build_provider()
        .map_err(|e| fail(exit::SETTINGS, e))?;
    let bar = (to.len() > 1 && !json).then(|| {
        let bar = indicatif::ProgressBar::new(to.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} test SMS sent {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut results: Vec<(&str, Diagnosis)> = Vec::with_capacity(to.len());
    for number in to {
        let d = settings.send_test_sms(number, text).await;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        results.push((number, d));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let code = if results.iter().all(|(_, d)| d.is_accepted()) {
        0
    } else if results
        .iter()
        .any(|(_, d)| matches!(d, Diagnosis::SettingsInvalid(_)))
    {
        exit::SETTINGS
    } else if results.iter().any(|(_, d)| d.is_unknown()) {
        exit::UNKNOWN
    } else if results
        .iter()
        .all(|(_, d)| d.is_accepted() || matches!(d, Diagnosis::NumberInvalid(_)))
    {
        exit::BAD_INPUT
    } else {
        exit::REJECTED
    };
    if json {
        print_json(&serde_json::json!({
            "provider": provider.name(),
            "results": results
                .iter()
                .map(|(to, d)| serde_json::json!({ "to": to, "diagnosis": diagnosis_json(d) }))
                .collect::<Vec<_>>(),
            "all_accepted": code == 0,
        }));
    } else {
        out!("provider: {}", provider.name());
        for (to, d) in &results {
            out!("{to}: {d}");
        }
    }
    Ok(code)
}

/// A diagnosis as the CLI's JSON shows it:
/// `{"kind": "...", "reference": "..." | null, "message": "..."}`.
fn diagnosis_json(d: &Diagnosis) -> serde_json::Value {
    let reference = match d {
        Diagnosis::Accepted { reference } => reference.as_deref(),
        _ => None,
    };
    serde_json::json!({ "kind": d.kind(), "reference": reference, "message": d.to_string() })
}

pub(crate) fn sms_preview(json: bool, text: &str, provider: Gateway) -> u8 {
    let limits = match provider {
        Gateway::Intelecom => crm_comms::intelecom::LIMITS,
        Gateway::Pswincom => crm_comms::pswincom::LIMITS,
    };
    let p = preview(text, &limits);
    if json {
        print_json(&serde_json::json!({
            "preview": p,
            "exceeds_limit": p.exceeds_limit(),
        }));
    } else {
        out!("encoding: {}", p.encoding);
        out!("characters: {}", p.characters);
        out!("units: {} of at most {}", p.units, p.max_units);
        out!("parts: {}", p.parts);
        out!("left in this part: {}", p.remaining_in_part);
        if !p.forced_ucs2_by.is_empty() {
            let chars: Vec<String> = p.forced_ucs2_by.iter().map(|c| format!("{c:?}")).collect();
            out!("Unicode because of: {}", chars.join(" "));
        }
        out!(
            "limit: {}",
            if p.exceeds_limit() {
                "exceeded"
            } else {
                "within"
            }
        );
    }
    if p.exceeds_limit() { exit::REJECTED } else { 0 }
}
