//! `crm-comms link`: render call links, write protocol-handler registrations.

use super::*;

#[derive(Subcommand)]
pub(crate) enum LinkCommand {
    /// Render a phone link format for numbers.
    #[command(
        after_help = "Example:\n  crm-comms link render --format 'domycall:%p?company={cuid}' --number '22 33 44 55' --country NO --var cuid=4711"
    )]
    Render {
        /// The phone link format (`tel:%p`, `callto:%p`, `domycall:%p?c={cuid}`).
        #[arg(long)]
        format: String,
        /// A number as typed (repeat for several).
        #[arg(long, required = true)]
        number: Vec<String>,
        /// The default country for numbers typed without one (`NO` or `47`).
        #[arg(long)]
        country: Option<String>,
        /// A template variable (repeat for several).
        #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Write the `.reg` file that registers a protocol handler on Windows.
    #[command(
        after_help = "Example:\n  crm-comms link reg --scheme domycall --exe 'C:\\Program Files\\DoMyCall\\dial.exe'"
    )]
    Reg {
        /// The URI scheme.
        #[arg(long)]
        scheme: String,
        /// The handler's executable.
        #[arg(long)]
        exe: String,
    },
}

pub(crate) fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

pub(crate) fn link_render(
    json: bool,
    format: &str,
    numbers: &[String],
    country: Option<&str>,
    vars: &[(String, String)],
) -> Result<u8, Fail> {
    let bad = |e: &dyn std::fmt::Display| fail(exit::BAD_INPUT, e);
    let format: PhoneLinkFormat = format.parse().map_err(|e| bad(&e))?;
    let country: Option<DefaultCountry> =
        country.map(str::parse).transpose().map_err(|e| bad(&e))?;
    let numbers = numbers
        .iter()
        .map(|n| PhoneNumber::parse(n, country.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let links = format
        .render_all(&numbers, vars.as_slice())
        .map_err(|e| bad(&e))?;
    if json {
        print_json(&serde_json::json!({
            "format": format.to_string(),
            "links": links.iter().map(crm_comms::links::PhoneLink::as_str).collect::<Vec<_>>(),
        }));
    } else {
        for l in &links {
            out!("{l}");
        }
    }
    Ok(0)
}

pub(crate) fn link_reg(json: bool, scheme: &str, exe: &str) -> Result<u8, Fail> {
    let reg = WindowsRegistration::new(scheme, exe)
        .build()
        .map_err(|e| fail(exit::BAD_INPUT, e))?;
    let text = reg.to_reg_text();
    if json {
        print_json(&serde_json::json!({ "reg": text }));
    } else {
        print!("{text}");
    }
    Ok(0)
}
