//! The quick start: render call links for a contact from layered
//! preferences, on embedded defaults (in-memory preferences, no network).
//!
//! Run with `cargo run --example quickstart`.

use crm_comms::links::{PhoneLinkFormat, WindowsRegistration};
use crm_comms::phone::{DefaultCountry, PhoneNumber};
use crm_comms::prefs::{Context, Entry, Level, PHONE_LINK_FORMAT, Preferences};

fn main() -> Result<(), crm_comms::Error> {
    let (section, key) = PHONE_LINK_FORMAT;

    // An administrator's settings: Skype for everyone, FaceTime for the
    // sales group (3), and user 7 uses an ISV's dialer with the company id.
    let prefs = Preferences::new();
    prefs.set(Entry::new(Level::System, 0, section, key, "callto:%p"))?;
    prefs.set(Entry::new(Level::Group, 3, section, key, "facetime:%p"))?;
    prefs.set(Entry::new(
        Level::User,
        7,
        section,
        key,
        "domycall:%p?company={cuid}&name={name}",
    ))?;

    // A contact's numbers as users typed them; the CRM's default country
    // code is Norway's.
    let norway: DefaultCountry = "NO".parse()?;
    let typed = [
        "22 33 44 55",
        "+47 901 23 456",
        "0046 70-123 45 67",
        "not a number",
    ];
    let mut numbers = Vec::new();
    for t in typed {
        match PhoneNumber::parse(t, Some(&norway)) {
            Ok(n) => numbers.push(n),
            Err(e) => println!("skipped: {e}"),
        }
    }

    // The template variables of the current company.
    let vars = [("cuid", "4711"), ("name", "Ola & Sønner AS")];

    let snapshot = prefs.snapshot();
    for (who, ctx) in [
        ("user 9 (group 1)", Context::user(9).in_group(1)),
        ("user 8 (group 3)", Context::user(8).in_group(3)),
        ("user 7 (group 3)", Context::user(7).in_group(3)),
    ] {
        let format = snapshot
            .get::<PhoneLinkFormat>(&ctx, section, key)?
            .expect("the built-in default always applies");
        println!(
            "\n{who}: format {} (set at {})",
            format.value(),
            format.origin()
        );
        for link in format.value().render_all(&numbers, &vars)? {
            println!("  {link}");
        }
    }

    // Why does user 7 get their value? And what if the system value is locked?
    prefs.set(Entry::new(Level::System, 0, section, key, "tel:%p").locked_at(Level::System))?;
    let ctx = Context::user(7).in_group(3);
    println!(
        "\nafter locking tel:%p at system level:\n{}",
        prefs.snapshot().explain(&ctx, section, key)
    );

    // For the ISV: what the protocol handler receives, and its .reg file.
    let isv: PhoneLinkFormat = "domycall:%p?company={cuid}&name={name}".parse()?;
    let link = isv.render(&numbers[0], &vars)?;
    let call = isv.parse_link(link.as_str())?;
    println!(
        "handler got {} for company {:?} ({:?})",
        call.number(),
        call.variable("cuid").unwrap_or_default(),
        call.variable("name").unwrap_or_default()
    );
    let reg =
        WindowsRegistration::new("domycall", r"C:\Program Files\DoMyCall\dial.exe").build()?;
    println!("\n{}", reg.to_reg_text().replace("\r\n", "\n"));
    Ok(())
}
