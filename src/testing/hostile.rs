//! Worst-case push bodies of a given size, for receivers' limits, the
//! benchmarks and an integrator's own parser: what an attacker with the
//! callback URL (or a broken gateway) can send within the body limit.
//!
//! Each body holds one hostile entry followed by one well-formed entry, so
//! a test can check that the good one survives.

/// Intelecom JSON MO push whose first entry has as many fields as fit in
/// `bytes` (`{"mo":[{"field00000":"v",…},{…good…}]}`).
#[must_use]
pub fn intelecom_json_many_fields(bytes: usize) -> Vec<u8> {
    let mut body = String::with_capacity(bytes + 128);
    body.push_str(r#"{"mo":[{"messageid":"m1","originator":"+4741000001","content":"Hei""#);
    let mut i = 0usize;
    while body.len() + 80 < bytes {
        body.push_str(&format!(r#","field{i:07}":"v""#));
        i += 1;
    }
    body.push_str(r#"},{"messageid":"m2","originator":"+4741000002","content":"Ja"}]}"#);
    body.into_bytes()
}

/// Intelecom XML MO push whose first entry has as many fields as fit in
/// `bytes`.
#[must_use]
pub fn intelecom_xml_many_fields(bytes: usize) -> Vec<u8> {
    let mut body = String::with_capacity(bytes + 256);
    body.push_str("<mo><message><messageid>m1</messageid><originator>+4741000001</originator>");
    let mut i = 0usize;
    while body.len() + 200 < bytes {
        body.push_str(&format!("<f{i:07}>v</f{i:07}>"));
        i += 1;
    }
    body.push_str(
        "<content>Hei</content></message><message><messageid>m2</messageid>\
         <originator>+4741000002</originator><content>Ja</content></message></mo>",
    );
    body.into_bytes()
}

/// `PSWinCom` XML DR push whose first `MSG` nests elements as deep as fit
/// in `bytes`.
#[must_use]
pub fn pswincom_deep(bytes: usize) -> Vec<u8> {
    let depth = bytes.saturating_sub(200) / 7;
    format!(
        "<?xml version=\"1.0\"?><MSGLST><MSG><ID>1</ID>{}{}</MSG>{}</MSGLST>",
        "<A>".repeat(depth),
        "</A>".repeat(depth),
        GOOD_PSWIN_DR
    )
    .into_bytes()
}

/// `PSWinCom` XML DR push whose first `MSG` has as many fields as fit in
/// `bytes`.
#[must_use]
pub fn pswincom_wide(bytes: usize) -> Vec<u8> {
    let mut body = String::with_capacity(bytes + 256);
    body.push_str("<?xml version=\"1.0\"?><MSGLST><MSG><ID>1</ID>");
    let mut i = 0usize;
    while body.len() + 200 < bytes {
        body.push_str(&format!("<F{i:07}>v</F{i:07}>"));
        i += 1;
    }
    body.push_str("</MSG>");
    body.push_str(GOOD_PSWIN_DR);
    body.push_str("</MSGLST>");
    body.into_bytes()
}

const GOOD_PSWIN_DR: &str =
    "<MSG><ID>2</ID><REF>r2</REF><RCV>4741000002</RCV><STATE>DELIVRD</STATE></MSG>";
