//! Call-link formats: parse/display round trips, rejections, safe rendering,
//! the protocol handler's side and `.reg` files.

use std::collections::HashMap;

use crm_comms::links::{
    FormatErrorKind as K, Hive, LinkError, NoVariables, ParseOptions, PhoneLinkFormat,
    RenderOptions, SchemePolicy, WindowsRegistration,
};
use crm_comms::phone::PhoneNumber;

fn num() -> PhoneNumber {
    "+4722334455".parse().unwrap()
}

/// Each case: the input, its canonical spelling, its scheme, its variables,
/// and other spellings that must parse to the same format.
macro_rules! test_parse {
    ($name:ident, $input:expr, canonical: $canon:expr, scheme: $scheme:expr, vars: [$($var:expr),*], same_as: [$($alt:expr),*]) => {
        #[test]
        fn $name() {
            let f: PhoneLinkFormat = $input.parse().unwrap();
            assert_eq!(f.to_string(), $canon);
            assert_eq!(f.scheme(), $scheme);
            let vars: Vec<&str> = f.variables().collect();
            let expected: Vec<&str> = vec![$($var),*];
            assert_eq!(vars, expected);
            // to_string() -> parse() round-trips to an equal format.
            let again: PhoneLinkFormat = f.to_string().parse().unwrap();
            assert_eq!(again, f);
            assert_eq!(again.to_string(), $canon);
            $(
                let alt: PhoneLinkFormat = $alt.parse().unwrap();
                assert_eq!(alt, f, "{} should equal {}", $alt, $input);
            )*
        }
    };
}

test_parse!(tel_default, "tel:%p", canonical: "tel:%p", scheme: "tel", vars: [], same_as: ["TEL:%p", " tel:%p ", "Tel:%p"]);
test_parse!(skype, "callto:%p", canonical: "callto:%p", scheme: "callto", vars: [], same_as: ["CallTo:%p"]);
test_parse!(facetime, "facetime:%p", canonical: "facetime:%p", scheme: "facetime", vars: [], same_as: []);
test_parse!(isv_scheme, "domycall:%p", canonical: "domycall:%p", scheme: "domycall", vars: [], same_as: ["DOMYCALL:%p"]);
test_parse!(isv_with_variables, "domycall:%p?company={cuid}&contact={cont}",
    canonical: "domycall:%p?company={cuid}&contact={cont}", scheme: "domycall", vars: ["cuid", "cont"],
    same_as: ["domycall:%p?company={CUID}&contact={Cont}"]);
test_parse!(percent_sign, "x-dial:%p?note=100%%", canonical: "x-dial:%p?note=100%25", scheme: "x-dial", vars: [],
    same_as: ["x-dial:%p?note=100%25"]);
test_parse!(pre_encoded_hex, "x-dial:%p?n=a%2fb", canonical: "x-dial:%p?n=a%2Fb", scheme: "x-dial", vars: [],
    same_as: ["x-dial:%p?n=a%2Fb"]);
test_parse!(sip_with_host, "sip:%p@pbx.example.com;user=phone", canonical: "sip:%p@pbx.example.com;user=phone",
    scheme: "sip", vars: [], same_as: ["SIP:%p@pbx.example.com;user=phone"]);
test_parse!(odd_variables, "x:%p#{cnt?}{a_b}", canonical: "x:%p#{cnt?}{a_b}", scheme: "x", vars: ["cnt?", "a_b"], same_as: []);
test_parse!(number_twice, "x:%p?again=%p", canonical: "x:%p?again=%p", scheme: "x", vars: [], same_as: []);
test_parse!(scheme_chars, "x.y+z-1:%p", canonical: "x.y+z-1:%p", scheme: "x.y+z-1", vars: [], same_as: ["X.Y+Z-1:%p"]);

#[test]
fn default_is_tel() {
    assert_eq!(PhoneLinkFormat::default(), "tel:%p".parse().unwrap());
}

#[test]
fn case_sensitive_variables_keep_their_case() {
    let opts = ParseOptions::default().case_sensitive_variables(true);
    let f = PhoneLinkFormat::parse_with("x:%p?c={CuId}", &opts).unwrap();
    assert_eq!(f.variables().collect::<Vec<_>>(), ["CuId"]);
    assert_eq!(f.to_string(), "x:%p?c={CuId}");
}

/// Each case: input, the error kind, the offset it points at.
#[test]
fn rejections_name_what_and_where() {
    let cases: Vec<(&str, K, usize)> = vec![
        ("", K::Empty, 0),
        ("   ", K::Empty, 3),
        ("%p", K::MissingScheme, 0),
        (":%p", K::MissingScheme, 0),
        ("1tel:%p", K::InvalidScheme, 0),
        ("te l:%p", K::InvalidScheme, 2),
        ("tel_x:%p", K::InvalidScheme, 3),
        (
            "javascript:alert(%p)",
            K::DisallowedScheme("javascript".into()),
            0,
        ),
        ("JavaScript:%p", K::DisallowedScheme("javascript".into()), 0),
        ("vbscript:%p", K::DisallowedScheme("vbscript".into()), 0),
        ("data:%p", K::DisallowedScheme("data".into()), 0),
        ("file:%p", K::DisallowedScheme("file".into()), 0),
        ("http://x/%p", K::DisallowedScheme("http".into()), 0),
        ("https://x/%p", K::DisallowedScheme("https".into()), 0),
        ("tel:callto:%p", K::MultipleSchemes, 4),
        ("tel:javascript:%p", K::MultipleSchemes, 4),
        ("tel:%q", K::UnknownDirective("%q".into()), 4),
        ("tel:%P", K::UnknownDirective("%P".into()), 4),
        ("tel:%p%", K::UnknownDirective("%".into()), 6),
        ("tel:%p%4", K::UnknownDirective("%4".into()), 6),
        ("tel:%p%4g", K::UnknownDirective("%4g".into()), 6),
        ("x:%p?c={cuid", K::UnterminatedVariable, 7),
        ("x:%p?c={cu{id}", K::UnterminatedVariable, 7),
        ("x:%p?c=cuid}", K::UnmatchedBrace, 11),
        ("x:%p?c={}", K::InvalidVariableName(String::new()), 7),
        ("x:%p?c={cu id}", K::InvalidVariableName("cu id".into()), 7),
        ("x:%p?c={cu-id}", K::InvalidVariableName("cu-id".into()), 7),
        ("x:%p?c={padd32}", K::FillVariable("padd32".into()), 7),
        ("x:%p?c=a b", K::InvalidCharacter(' '), 8),
        ("x:%p?c=\"", K::InvalidCharacter('"'), 7),
        ("x:%p?c=ø", K::InvalidCharacter('ø'), 7),
        ("x:%p|calc", K::InvalidCharacter('|'), 4),
        ("x:%p^", K::InvalidCharacter('^'), 4),
        ("x:%p\\", K::InvalidCharacter('\\'), 4),
        ("x:%p<", K::InvalidCharacter('<'), 4),
        ("x:%p\r\nX", K::InvalidCharacter('\r'), 4),
        ("x:%p\0", K::InvalidCharacter('\0'), 4),
        ("x:%p#a#b", K::InvalidCharacter('#'), 6),
        ("tel:", K::MissingNumber, 4),
        ("tel:{phon}", K::MissingNumber, 10),
    ];
    for (input, kind, offset) in cases {
        let e = input.parse::<PhoneLinkFormat>().unwrap_err();
        assert_eq!(
            (e.format_kind(), e.offset()),
            (Some(&kind), Some(offset)),
            "{input:?}: {e}"
        );
        assert!(
            e.to_string().starts_with("invalid phone link format: "),
            "{e}"
        );
    }
    let long = format!("tel:%p?x={}", "a".repeat(3000));
    assert_eq!(
        long.parse::<PhoneLinkFormat>().unwrap_err().format_kind(),
        Some(&K::TooLong)
    );
}

#[test]
fn web_schemes_only_when_allowed() {
    let web = ParseOptions::default().schemes(SchemePolicy::default().allow_web());
    let f = PhoneLinkFormat::parse_with("https://dial.example.com/call?n=%p", &web).unwrap();
    assert_eq!(
        f.render(&num(), &NoVariables).unwrap().as_str(),
        "https://dial.example.com/call?n=%2B4722334455"
    );
    // Allowing the web never allows script.
    assert!(PhoneLinkFormat::parse_with("javascript:%p", &web).is_err());
    let only = ParseOptions::default().schemes(SchemePolicy::only(["javascript", "tel"]));
    assert!(PhoneLinkFormat::parse_with("javascript:%p", &only).is_err());
    assert!(PhoneLinkFormat::parse_with("tel:%p", &only).is_ok());
    assert!(PhoneLinkFormat::parse_with("callto:%p", &only).is_err());
}

#[test]
fn renders_the_documented_formats() {
    let n = num();
    for (format, link) in [
        ("tel:%p", "tel:+4722334455"),
        ("callto:%p", "callto:+4722334455"),
        ("facetime:%p", "facetime:+4722334455"),
        ("domycall:%p", "domycall:+4722334455"),
        (
            "x:%p?n=%p#%p",
            "x:+4722334455?n=%2B4722334455#%2B4722334455",
        ),
    ] {
        let f: PhoneLinkFormat = format.parse().unwrap();
        assert_eq!(f.render(&n, &NoVariables).unwrap().as_str(), link);
    }
}

#[test]
fn renders_variables_from_any_source() {
    let f: PhoneLinkFormat = "domycall:%p?company={cuid}&name={name}".parse().unwrap();
    let mut map = HashMap::new();
    map.insert("cuid".to_string(), "42".to_string());
    map.insert("name".to_string(), "Ola Nordmann AS".to_string());
    let link = f.render(&num(), &map).unwrap();
    assert_eq!(
        link.as_str(),
        "domycall:+4722334455?company=42&name=Ola%20Nordmann%20AS"
    );
    assert_eq!(link.scheme(), "domycall");

    let e = f.render(&num(), &[("cuid", "42")]).unwrap_err();
    assert_eq!(
        e,
        LinkError::UnknownVariable {
            name: "name".into()
        }
    );
    assert!(e.to_string().contains("{name}"));
    let lenient = RenderOptions::default().unknown_variables_empty();
    let link = f.render_with(&num(), &[("cuid", "42")], &lenient).unwrap();
    assert_eq!(link.as_str(), "domycall:+4722334455?company=42&name=");
}

#[test]
fn many_variables_render_in_order() {
    let names: Vec<String> = (0..12).map(|i| format!("v{i:02}")).collect();
    let format = format!(
        "x:%p?{}",
        names
            .iter()
            .map(|n| format!("{n}={{{n}}}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let f: PhoneLinkFormat = format.parse().unwrap();
    let vars: HashMap<String, String> = names
        .iter()
        .map(|n| (n.clone(), format!("<{n}>")))
        .collect();
    let link = f.render(&num(), &vars).unwrap();
    let expected = format!(
        "x:+4722334455?{}",
        names
            .iter()
            .map(|n| format!("{n}=%3C{n}%3E"))
            .collect::<Vec<_>>()
            .join("&")
    );
    assert_eq!(link.as_str(), expected);
}

#[test]
fn renders_all_of_a_persons_numbers() {
    let f: PhoneLinkFormat = "tel:%p".parse().unwrap();
    let numbers: Vec<PhoneNumber> = ["+4722334455", "+4790123456", "+46701234567"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let links = f.render_all(&numbers, &NoVariables).unwrap();
    let links: Vec<&str> = links
        .iter()
        .map(crm_comms::links::PhoneLink::as_str)
        .collect();
    assert_eq!(
        links,
        ["tel:+4722334455", "tel:+4790123456", "tel:+46701234567"]
    );
}

/// Hostile values a user could type into a company or contact name.
const HOSTILE: &[&str] = &[
    "\" & calc.exe & \"",
    "a\"b",
    "x|y",
    "^&^|",
    "%PATH%",
    "%1",
    "a b\tc",
    "line\r\nbreak",
    "nul\0byte",
    "?x=1&y=2#frag",
    "/../../etc/passwd",
    "javascript:alert(1)",
    "tel:+4799999999",
    "\\\\server\\share",
    "ø æ å ü 漢字 😀",
    "<script>",
    "'; DROP TABLE--",
    "\u{202E}txt.exe",
    "a%20b",
    "{cuid}",
];

/// What a link must never contain to be safe inside `"%1"` on a Windows
/// command line and to stay one URI.
fn assert_safe(link: &str, scheme: &str) {
    assert!(link.starts_with(&format!("{scheme}:")), "{link}");
    for (i, c) in link.char_indices() {
        assert!(c.is_ascii() && !c.is_ascii_control(), "{link}: {c:?}");
        assert!(
            !matches!(
                c,
                '"' | ' ' | '^' | '|' | '<' | '>' | '\\' | '`' | '{' | '}'
            ),
            "{link}: {c:?}"
        );
        if c == '%' {
            let hex = &link[i + 1..(i + 3).min(link.len())];
            assert!(
                hex.len() == 2 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{link}: bare %"
            );
        }
    }
}

#[test]
fn hostile_values_cannot_break_out() {
    let f: PhoneLinkFormat = "domycall:%p?company={name}&c={cont}#{cf01}"
        .parse()
        .unwrap();
    for value in HOSTILE {
        let vars = [("name", *value), ("cont", *value), ("cf01", *value)];
        let link = f.render(&num(), &vars).unwrap();
        assert_safe(link.as_str(), "domycall");
        // One `?` and one `#`: the format's own.
        assert_eq!(link.as_str().matches('?').count(), 1, "{link}");
        assert_eq!(link.as_str().matches('#').count(), 1, "{link}");
        assert_eq!(link.as_str().matches('&').count(), 1, "{link}");
        assert_eq!(link.as_str().matches(':').count(), 1, "{link}");
        // And the handler gets the value back exactly.
        let call = f.parse_link(link.as_str()).unwrap();
        assert_eq!(call.variable("name"), Some(*value));
        assert_eq!(call.variable("cf01"), Some(*value));
        assert_eq!(call.number(), &num());
    }
    // A variable in the path cannot add a path segment or a query either.
    let f: PhoneLinkFormat = "x:{name}/%p".parse().unwrap();
    for value in HOSTILE {
        let link = f.render(&num(), &[("name", *value)]).unwrap();
        assert_safe(link.as_str(), "x");
        assert_eq!(link.as_str().matches('/').count(), 1, "{link}");
        assert!(
            !link.as_str().contains('?') && !link.as_str().contains('#'),
            "{link}"
        );
    }
}

#[test]
fn exact_encoding_of_hostile_values() {
    let f: PhoneLinkFormat = "x:%p?n={name}".parse().unwrap();
    let cases = [
        ("\" & calc.exe & \"", "%22%20%26%20calc.exe%20%26%20%22"),
        ("%PATH%", "%25PATH%25"),
        ("line\r\nbreak", "line%0D%0Abreak"),
        ("nul\0byte", "nul%00byte"),
        ("ø", "%C3%B8"),
        ("a+b", "a%2Bb"),
        ("~keep-._", "~keep-._"),
    ];
    for (value, encoded) in cases {
        let link = f.render(&num(), &[("name", value)]).unwrap();
        assert_eq!(link.as_str(), format!("x:+4722334455?n={encoded}"));
    }
}

#[test]
fn handler_reads_links_back() {
    let f: PhoneLinkFormat = "domycall:%p?company={cuid}".parse().unwrap();
    let call = f.parse_link("domycall:+4722334455?company=42").unwrap();
    assert_eq!(call.number().e164(), "+4722334455");
    assert_eq!(call.variables().collect::<Vec<_>>(), [("cuid", "42")]);
    // Quoted, unquoted-with-spaces, upper-case scheme, trailing slash.
    for arg in [
        "\"domycall:+4722334455?company=42\"",
        "  domycall:+4722334455?company=42 ",
        "DOMYCALL:+4722334455?company=42",
        "domycall:+4722334455?company=42/",
    ] {
        let call = f.parse_link(arg).unwrap_or_else(|e| panic!("{arg}: {e}"));
        assert_eq!(call.variable("cuid"), Some("42"), "{arg}");
    }
    // Number in a query, written %2B.
    let f: PhoneLinkFormat = "x:dial?n=%p".parse().unwrap();
    assert_eq!(
        f.parse_link("x:dial?n=%2B4722334455").unwrap().number(),
        &num()
    );
    // A number directly followed by a variable cannot be split.
    let f: PhoneLinkFormat = "x:%p{cuid}".parse().unwrap();
    let link = f.render(&num(), &[("cuid", "123")]).unwrap();
    assert_eq!(
        f.parse_link(link.as_str()).unwrap_err(),
        LinkError::Ambiguous
    );
}

#[test]
fn handler_rejects_what_does_not_match() {
    let f: PhoneLinkFormat = "domycall:%p?company={cuid}".parse().unwrap();
    type Check = fn(&LinkError) -> bool;
    let cases: Vec<(&str, Check)> = vec![
        ("tel:+4722334455?company=1", |e| {
            matches!(e, LinkError::WrongScheme { .. })
        }),
        ("domycall", |e| matches!(e, LinkError::WrongScheme { .. })),
        ("domycall:+4722334455?firm=1", |e| {
            matches!(e, LinkError::Mismatch { .. })
        }),
        ("domycall:abc?company=1", |e| {
            matches!(e, LinkError::Number(_))
        }),
        ("domycall:+4722334455?company=%ZZ", |e| {
            matches!(e, LinkError::BadEncoding { .. })
        }),
        ("domycall:+4722334455?company=%FF", |e| {
            matches!(e, LinkError::BadEncoding { .. })
        }),
        // Issue 19, item 6: nothing a rendered link can never contain.
        ("domycall:+4722334455?company=1&evil=1", |e| {
            matches!(e, LinkError::UnexpectedCharacter { byte: '&', .. })
        }),
        ("domycall:+4722334455?company=1 2", |e| {
            matches!(e, LinkError::UnexpectedCharacter { byte: ' ', .. })
        }),
        ("domycall:+4722334455?company=<script>", |e| {
            matches!(e, LinkError::UnexpectedCharacter { byte: '<', .. })
        }),
        ("domycall:+4722334455?company=a\"b", |e| {
            matches!(e, LinkError::UnexpectedCharacter { byte: '"', .. })
        }),
        ("domycall:+4722334455?company=1%", |e| {
            matches!(e, LinkError::BadEncoding { .. })
        }),
        ("domycall:+47223+34455?company=1", |e| {
            matches!(e, LinkError::UnexpectedCharacter { byte: '+', .. })
        }),
    ];
    for (arg, check) in cases {
        let e = f.parse_link(arg).unwrap_err();
        assert!(check(&e), "{arg}: {e:?}");
    }
    // Where: the offset of the offending byte in the link.
    assert_eq!(
        f.parse_link("domycall:+4722334455?company=1&evil=1")
            .unwrap_err(),
        LinkError::UnexpectedCharacter {
            name: "cuid".into(),
            offset: 30,
            byte: '&'
        }
    );
    let huge = format!("domycall:+4722334455?company={}", "a".repeat(10_000));
    assert_eq!(f.parse_link(&huge).unwrap_err(), LinkError::LinkTooLong);
    let f: PhoneLinkFormat = "x:%p?{a}{b}".parse().unwrap();
    assert_eq!(
        f.parse_link("x:+4722334455?12").unwrap_err(),
        LinkError::Ambiguous
    );
}

#[test]
fn reg_file_for_a_custom_scheme() {
    let reg = WindowsRegistration::new("DoMyCall", r"C:\Program Files\DoMyCall\dial.exe")
        .description("DoMyCall \"Pro\" dialer")
        .build()
        .unwrap();
    let expected = "Windows Registry Editor Version 5.00\r\n\
\r\n\
[HKEY_CLASSES_ROOT\\domycall]\r\n\
@=\"DoMyCall \\\"Pro\\\" dialer\"\r\n\
\"URL Protocol\"=\"\"\r\n\
\r\n\
[HKEY_CLASSES_ROOT\\domycall\\shell]\r\n\
\r\n\
[HKEY_CLASSES_ROOT\\domycall\\shell\\open]\r\n\
\r\n\
[HKEY_CLASSES_ROOT\\domycall\\shell\\open\\command]\r\n\
@=\"\\\"C:\\\\Program Files\\\\DoMyCall\\\\dial.exe\\\" \\\"%1\\\"\"\r\n";
    assert_eq!(reg.to_reg_text(), expected);
    assert_eq!(
        reg.command_line(),
        "\"C:\\Program Files\\DoMyCall\\dial.exe\" \"%1\""
    );
    let bytes = reg.to_reg_file_bytes();
    assert_eq!(&bytes[..4], &[0xFF, 0xFE, b'W', 0]);

    let user = WindowsRegistration::new("domycall", r"\\server\apps\dial.exe")
        .hive(Hive::CurrentUser)
        .build()
        .unwrap();
    assert!(
        user.to_reg_text()
            .contains("[HKEY_CURRENT_USER\\Software\\Classes\\domycall\\shell\\open\\command]")
    );
    assert!(user.to_reg_text().contains("@=\"URL:domycall Protocol\""));
}

#[test]
fn reg_file_refuses_what_would_break_it() {
    let bad = |scheme: &str, exe: &str| WindowsRegistration::new(scheme, exe).build().unwrap_err();
    assert_eq!(
        bad("java script", r"C:\a.exe"),
        LinkError::InvalidScheme("java script".into())
    );
    assert_eq!(
        bad("", r"C:\a.exe"),
        LinkError::InvalidScheme(String::new())
    );
    assert_eq!(
        bad("javascript", r"C:\a.exe"),
        LinkError::DisallowedScheme("javascript".into())
    );
    assert_eq!(
        bad("https", r"C:\a.exe"),
        LinkError::DisallowedScheme("https".into())
    );
    assert_eq!(bad("x", "a.exe"), LinkError::RelativePath);
    assert_eq!(bad("x", r"C:\dir\"), LinkError::RelativePath);
    for (c, exe) in [
        ('"', "C:\\a\".exe"),
        ('%', r"C:\%TEMP%\a.exe"),
        ('\n', "C:\\a\n.exe"),
        ('|', r"C:\a|b.exe"),
        ('\0', "C:\\a\0.exe"),
    ] {
        assert_eq!(
            bad("x", exe),
            LinkError::InvalidCharacter {
                field: "program path",
                found: c
            }
        );
    }
    let e = WindowsRegistration::new("x", r"C:\a.exe")
        .description("a\r\n[HKEY_LOCAL_MACHINE]")
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        LinkError::InvalidCharacter {
            field: "description",
            found: '\r'
        }
    );
}
