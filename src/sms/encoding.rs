//! Which alphabet a text needs, and how many SMS parts it takes.
//!
//! - **GSM 03.38** (GSM-7): the default alphabet (one septet per character)
//!   plus the extension table (`^ { } \ [ ~ ] | €` and form feed), whose
//!   characters take two septets (escape + character) and are never split
//!   across parts.
//! - **UCS-2**: UTF-16 code units; characters outside the Basic
//!   Multilingual Plane (emoji) take two units, a surrogate pair, and are
//!   never split across parts.
//!
//! A text is sent as GSM-7 when every character is in the GSM alphabet,
//! else as UCS-2. Part sizes and the maximum number of parts depend on the
//! gateway: see [`Limits`].

use std::fmt;

/// The alphabet a text is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet with the extension table.
    Gsm7,
    /// UCS-2 (UTF-16 code units).
    Ucs2,
}

impl Encoding {
    /// Its name, as [`Display`](fmt::Display) writes it: `GSM-7` or `UCS-2`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Part sizes and the most parts a gateway accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Septets in a single GSM-7 message (160).
    pub gsm_single: usize,
    /// Septets per part of a concatenated GSM-7 message (153).
    pub gsm_part: usize,
    /// UTF-16 units in a single UCS-2 message (70).
    pub ucs2_single: usize,
    /// UTF-16 units per part of a concatenated UCS-2 message (67).
    pub ucs2_part: usize,
    /// The most parts one message may have.
    pub max_parts: usize,
}

impl Limits {
    /// The usual 3GPP sizes (160/153, 70/67) with at most `max_parts` parts.
    #[must_use]
    pub const fn standard(max_parts: usize) -> Self {
        Limits {
            gsm_single: 160,
            gsm_part: 153,
            ucs2_single: 70,
            ucs2_part: 67,
            max_parts,
        }
    }

    /// The most units (septets or UTF-16 units) a message may have.
    #[must_use]
    pub fn max_units(&self, encoding: Encoding) -> usize {
        match (encoding, self.max_parts) {
            (_, 0) => 0,
            (Encoding::Gsm7, 1) => self.gsm_single,
            (Encoding::Ucs2, 1) => self.ucs2_single,
            (Encoding::Gsm7, n) => n.saturating_mul(self.gsm_part),
            (Encoding::Ucs2, n) => n.saturating_mul(self.ucs2_part),
        }
    }
}

/// What a CRM shows while the user types an SMS.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TextPreview {
    /// The alphabet the text needs.
    pub encoding: Encoding,
    /// Characters as the user sees them (Unicode scalar values).
    pub characters: usize,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) the text takes.
    pub units: usize,
    /// How many SMS parts it takes.
    pub parts: usize,
    /// Units left in the last part before another part is needed.
    pub remaining_in_part: usize,
    /// The characters that forced UCS-2, each once, in order of appearance
    /// (empty for GSM-7).
    pub forced_ucs2_by: Vec<char>,
    /// The most units the gateway accepts for this encoding.
    pub max_units: usize,
}

impl TextPreview {
    /// Whether the text is longer than the gateway accepts.
    #[must_use]
    pub fn exceeds_limit(&self) -> bool {
        self.units > self.max_units
    }
}

/// Septet cost of each ASCII byte: 1 (default alphabet), 2 (extension
/// table) or 0 (not in GSM 03.38). Non-ASCII bytes are 0 and take the slow
/// path.
static ASCII_COST: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0x20;
    while b < 0x7F {
        t[b] = 1;
        b += 1;
    }
    t[b'\n' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[0x0C] = 2; // form feed: extension table
    t[b'`' as usize] = 0; // not in GSM 03.38
    let ext = b"^{}\\[~]|";
    let mut i = 0;
    while i < ext.len() {
        t[ext[i] as usize] = 2;
        i += 1;
    }
    t
};

/// The non-ASCII characters of the GSM default alphabet.
const GSM_NON_ASCII: &[char] = &[
    '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å', 'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ',
    'Σ', 'Θ', 'Ξ', 'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', '¿', 'ä', 'ö', 'ñ', 'ü',
    'à',
];

/// Cost of U+0000..U+03FF (all of GSM's non-ASCII letters are below U+0400).
static LOW_COST: [u8; 0x400] = {
    let mut t = [0u8; 0x400];
    let mut b = 0;
    while b < 0x80 {
        t[b] = ASCII_COST[b];
        b += 1;
    }
    let mut i = 0;
    while i < GSM_NON_ASCII.len() {
        t[GSM_NON_ASCII[i] as usize] = 1;
        i += 1;
    }
    t
};

/// Septet cost of a character: 1, 2 (extension table) or 0 (not GSM).
#[must_use]
pub fn gsm_cost(c: char) -> u8 {
    match c as u32 {
        n if n < 0x400 => LOW_COST[n as usize],
        0x20AC => 2, // €
        _ => 0,
    }
}

/// How a text will be sent, without the details [`preview`] gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    /// The alphabet.
    pub encoding: Encoding,
    /// Septets or UTF-16 units.
    pub units: usize,
    /// Parts.
    pub parts: usize,
}

/// UTF-16 units of `text`, counted on its bytes: one per character, two for
/// characters encoded in four UTF-8 bytes.
fn utf16_units(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| usize::from((b & 0xC0) != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

/// Detects the encoding and counts units and parts: the hot path behind a
/// typing preview or a send, stopping the GSM check at the first character
/// that forces UCS-2.
#[must_use]
pub fn segments(text: &str, limits: &Limits) -> Segments {
    let bytes = text.as_bytes();
    let (encoding, units, tricky) = if let Some((septets, extended)) =
        text.is_ascii().then(|| ascii_septets(bytes)).flatten()
    {
        (Encoding::Gsm7, septets, extended)
    } else {
        let mut septets = 0usize;
        let mut extended = false;
        let mut gsm = true;
        for c in text.chars() {
            let cost = gsm_cost(c);
            if cost == 0 {
                gsm = false;
                break;
            }
            extended |= cost == 2;
            septets += cost as usize;
        }
        if gsm {
            (Encoding::Gsm7, septets, extended)
        } else {
            let units = utf16_units(bytes);
            (Encoding::Ucs2, units, bytes.iter().any(|&b| b >= 0xF0))
        }
    };
    let (single, part) = match encoding {
        Encoding::Gsm7 => (limits.gsm_single, limits.gsm_part),
        Encoding::Ucs2 => (limits.ucs2_single, limits.ucs2_part),
    };
    let parts = if units <= single {
        1
    } else if !tricky {
        units.div_ceil(part)
    } else if encoding == Encoding::Gsm7 {
        pack(text.chars().map(|c| gsm_cost(c) as usize), part).0
    } else {
        // Costs straight from the UTF-8 lead bytes: 2 for 4-byte sequences.
        let costs = bytes
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .map(|&b| 1 + usize::from(b >= 0xF0));
        pack(costs, part).0
    };
    Segments {
        encoding,
        units,
        parts,
    }
}

/// Counts septets of a text that is all ASCII; `None` if a byte is not
/// ASCII or not in the GSM alphabet.
fn ascii_septets(bytes: &[u8]) -> Option<(usize, bool)> {
    let mut septets = 0usize;
    let mut missing = false;
    let mut extended = false;
    for chunk in bytes.chunks(16) {
        let mut sum = 0usize;
        for &b in chunk {
            let c = ASCII_COST[b as usize];
            missing |= c == 0;
            extended |= c == 2;
            sum += c as usize;
        }
        septets += sum;
    }
    (!missing).then_some((septets, extended))
}

/// The alphabet `text` needs.
#[must_use]
pub fn detect(text: &str) -> Encoding {
    if text.is_ascii() && ascii_septets(text.as_bytes()).is_some() {
        return Encoding::Gsm7;
    }
    if text.chars().all(|c| gsm_cost(c) != 0) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Splits the units of `costs` (one cost per character, never split) into
/// parts of `part` units; returns (parts, units left in the last part).
fn pack(costs: impl Iterator<Item = usize>, part: usize) -> (usize, usize) {
    let mut parts = 1;
    let mut used = 0;
    for c in costs {
        if used + c > part {
            parts += 1;
            used = 0;
        }
        used += c;
    }
    (parts, part - used)
}

/// Encoding, units, parts and what is left of the last part, for `text`
/// under `limits`.
///
/// ```
/// use crm_comms::sms::encoding::{preview, Encoding, Limits};
///
/// let p = preview("Hei på deg!", &Limits::standard(6));
/// assert_eq!((p.encoding, p.units, p.parts, p.remaining_in_part), (Encoding::Gsm7, 11, 1, 149));
///
/// let p = preview("Møte kl 10 ✅", &Limits::standard(6));
/// assert_eq!(p.encoding, Encoding::Ucs2);
/// assert_eq!(p.forced_ucs2_by, ['✅']);
///
/// let long = "a".repeat(919);
/// assert!(preview(&long, &Limits::standard(6)).exceeds_limit());
/// ```
pub fn preview(text: &str, limits: &Limits) -> TextPreview {
    // Fast path: ASCII text in the default alphabet only.
    if text.is_ascii()
        && let Some((septets, extended)) = ascii_septets(text.as_bytes())
    {
        let (parts, remaining) = if septets <= limits.gsm_single {
            (1, limits.gsm_single - septets)
        } else if !extended {
            let parts = septets.div_ceil(limits.gsm_part);
            (parts, parts * limits.gsm_part - septets)
        } else {
            pack(
                text.bytes().map(|b| ASCII_COST[b as usize] as usize),
                limits.gsm_part,
            )
        };
        return TextPreview {
            encoding: Encoding::Gsm7,
            characters: text.len(),
            units: septets,
            parts,
            remaining_in_part: remaining,
            forced_ucs2_by: Vec::new(),
            max_units: limits.max_units(Encoding::Gsm7),
        };
    }

    let mut forced: Vec<char> = Vec::new();
    let mut septets = 0;
    let mut utf16 = 0;
    let mut characters = 0;
    for c in text.chars() {
        characters += 1;
        utf16 += c.len_utf16();
        match gsm_cost(c) {
            0 => {
                if !forced.contains(&c) {
                    forced.push(c);
                }
            }
            n => septets += n as usize,
        }
    }
    let (encoding, units, single, part) = if forced.is_empty() {
        (Encoding::Gsm7, septets, limits.gsm_single, limits.gsm_part)
    } else {
        (Encoding::Ucs2, utf16, limits.ucs2_single, limits.ucs2_part)
    };
    let (parts, remaining) = if units <= single {
        (1, single - units)
    } else if encoding == Encoding::Gsm7 {
        pack(text.chars().map(|c| gsm_cost(c) as usize), part)
    } else {
        pack(text.chars().map(char::len_utf16), part)
    };
    TextPreview {
        encoding,
        characters,
        units,
        parts,
        remaining_in_part: remaining,
        forced_ucs2_by: forced,
        max_units: limits.max_units(encoding),
    }
}

/// Splits `text` into the parts it would be sent in (for tests and for
/// gateways that need the parts); escapes and surrogate pairs are never
/// split. Concatenating the parts gives `text` back.
#[must_use]
pub fn split(text: &str, limits: &Limits) -> Vec<String> {
    let p = preview(text, limits);
    if p.parts <= 1 {
        return vec![text.to_owned()];
    }
    let part = match p.encoding {
        Encoding::Gsm7 => limits.gsm_part,
        Encoding::Ucs2 => limits.ucs2_part,
    };
    let mut out = vec![String::new()];
    let mut used = 0;
    for c in text.chars() {
        let cost = match p.encoding {
            Encoding::Gsm7 => gsm_cost(c) as usize,
            Encoding::Ucs2 => c.len_utf16(),
        };
        if used + cost > part {
            out.push(String::new());
            used = 0;
        }
        used += cost;
        out.last_mut().expect("one part at least").push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    /// `PSWinCom`'s limits, as `crate::pswincom::LIMITS` has them.
    const PSWIN: Limits = Limits {
        gsm_single: 160,
        gsm_part: 134,
        ucs2_single: 70,
        ucs2_part: 67,
        max_parts: 16,
    };

    use super::*;

    #[test]
    fn the_gsm_alphabet() {
        let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        assert_eq!(basic.chars().count(), 127); // 128 minus the escape
        for c in basic.chars() {
            assert_eq!(gsm_cost(c), 1, "{c:?}");
        }
        for c in "^{}\\[~]|€\u{0C}".chars() {
            assert_eq!(gsm_cost(c), 2, "{c:?}");
        }
        for c in "`\t\0ÀçÑ́ş✅😀Ж".chars() {
            if c != 'Ñ' {
                assert_eq!(gsm_cost(c), 0, "{c:?}");
            }
        }
    }

    #[test]
    fn single_and_concatenated_sizes() {
        let l = Limits::standard(6);
        let cases: &[(String, Encoding, usize, usize, usize)] = &[
            (String::new(), Encoding::Gsm7, 0, 1, 160),
            ("a".repeat(160), Encoding::Gsm7, 160, 1, 0),
            ("a".repeat(161), Encoding::Gsm7, 161, 2, 145),
            ("a".repeat(306), Encoding::Gsm7, 306, 2, 0),
            ("a".repeat(918), Encoding::Gsm7, 918, 6, 0),
            ("€".repeat(80), Encoding::Gsm7, 160, 1, 0),
            ("€".repeat(81), Encoding::Gsm7, 162, 2, 153 - 9 - 1),
            ("ø".repeat(70), Encoding::Gsm7, 70, 1, 90),
            ("Ж".repeat(70), Encoding::Ucs2, 70, 1, 0),
            ("Ж".repeat(71), Encoding::Ucs2, 71, 2, 63),
            ("😀".repeat(35), Encoding::Ucs2, 70, 1, 0),
            ("😀".repeat(36), Encoding::Ucs2, 72, 2, 61),
        ];
        for (text, enc, units, parts, left) in cases {
            let p = preview(text, &l);
            assert_eq!(
                (p.encoding, p.units, p.parts, p.remaining_in_part),
                (*enc, *units, *parts, *left),
                "{} × {:?}",
                text.chars().count(),
                text.chars().next()
            );
        }
    }

    #[test]
    fn escapes_and_surrogates_are_never_split() {
        // 152 'a' then '€': the escape pair does not fit in part 1's last
        // septet, so it moves to part 2 whole.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let parts = split(&text, &Limits::standard(6));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(152));
        assert_eq!(parts.concat(), text);
        let text = format!("{}😀{}", "Ж".repeat(66), "Ж".repeat(10));
        let parts = split(&text, &Limits::standard(6));
        assert_eq!(parts[0], "Ж".repeat(66));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn forced_characters_are_listed_once_in_order() {
        let p = preview("Hei ✅ på deg ✅ 😀 `x`", &PSWIN);
        assert_eq!(p.encoding, Encoding::Ucs2);
        assert_eq!(p.forced_ucs2_by, ['✅', '😀', '`']);
    }

    #[test]
    fn gateway_limits() {
        assert_eq!(Limits::standard(6).max_units(Encoding::Gsm7), 918);
        assert_eq!(Limits::standard(6).max_units(Encoding::Ucs2), 402);
        assert_eq!(PSWIN.max_units(Encoding::Gsm7), 2144);
        assert!(!preview(&"a".repeat(2144), &PSWIN).exceeds_limit());
        assert!(preview(&"a".repeat(2145), &PSWIN).exceeds_limit());
    }
}
