//! Reading `phonenumber`'s metadata into the fast path's table: which
//! calling codes exist, which national lengths they allow, and which
//! prefixes the full parse would rewrite. The most fragile code in the
//! crate (it reads another crate's data structures and regex sources):
//! `tests/core/phone_fast_path.rs` checks every literal prefix against the full
//! parse.

use std::sync::LazyLock;

use phonenumber::metadata::DATABASE;

/// What the fast path needs to know about one calling code.
#[derive(Clone, Default)]
pub(super) struct CodeEntry {
    /// Bit `n` is set when a national significant number may have `n` digits.
    pub(super) lengths: u32,
    pub(super) min_len: u8,
    pub(super) max_len: u8,
    /// Whether a canonical number of this code can skip the full parse.
    pub(super) fast: bool,
    /// Bit `d` is set when one of `risky_prefixes` starts with digit `d`: a
    /// one-comparison filter before the prefixes themselves are looked at.
    pub(super) risky_first_digit: u16,
    /// National prefixes the full parse may strip (`0`, GB's `180020`): a
    /// national number starting with one must take the full parse.
    pub(super) risky_prefixes: Vec<Box<str>>,
    /// Bit `n` is set when a national number of `n` digits could be
    /// rewritten by the full parse (NANPA-style local-number rules).
    pub(super) risky_len: u32,
}

pub(super) struct CodeTable {
    entries: Vec<CodeEntry>,
}

impl CodeTable {
    pub(super) fn get(&self, code: u16) -> Option<&CodeEntry> {
        self.entries.get(code as usize).filter(|e| e.lengths != 0)
    }
}

pub(super) fn table() -> &'static CodeTable {
    static TABLE: LazyLock<CodeTable> = LazyLock::new(build_table);
    &TABLE
}

/// When the full parse may rewrite a national number, according to one
/// national-prefix pattern.
#[derive(Default)]
struct Risk {
    first_digits: u16,
    prefixes: Vec<Box<str>>,
    lengths: u32,
}

/// Reads a national-prefix-for-parsing pattern made of alternatives that are
/// either literal digit strings (`0|180020`: risky when the number starts
/// with that string) or whole-number rules such as `([2-9]\d{6})$` (risky
/// when the number has that many digits). Any other pattern gives `None`:
/// numbers of that code always take the full parse.
fn analyse_prefix_pattern(source: &str, risk: &mut Risk) -> Option<()> {
    let s = source.strip_prefix('^').unwrap_or(source);
    let s = s
        .strip_prefix("(?:")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(s);
    for alt in s.split('|') {
        if !alt.is_empty() && alt.bytes().all(|b| b.is_ascii_digit()) {
            risk.first_digits |= 1 << (alt.as_bytes()[0] - b'0');
            if !risk.prefixes.iter().any(|p| **p == *alt) {
                risk.prefixes.push(alt.into());
            }
            continue;
        }
        // `(<one digit or class>\d{N})$`
        let inner = alt.strip_prefix('(')?.strip_suffix(")$")?;
        let rest = if let Some(r) = inner.strip_prefix('[') {
            let close = r.find(']')?;
            if !r[..close].bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return None;
            }
            &r[close + 1..]
        } else if inner.as_bytes().first()?.is_ascii_digit() {
            &inner[1..]
        } else {
            return None;
        };
        let n: u32 = rest.strip_prefix("\\d{")?.strip_suffix('}')?.parse().ok()?;
        if n + 1 >= 32 {
            return None;
        }
        risk.lengths |= 1 << (n + 1);
    }
    Some(())
}

fn build_table() -> CodeTable {
    use phonenumber::Type;
    const TYPES: [Type; 12] = [
        Type::FixedLine,
        Type::Mobile,
        Type::TollFree,
        Type::PremiumRate,
        Type::SharedCost,
        Type::PersonalNumber,
        Type::Voip,
        Type::Pager,
        Type::Uan,
        Type::Voicemail,
        Type::FixedLineOrMobile,
        Type::Unknown,
    ];
    let mut entries = vec![CodeEntry::default(); 1000];
    for (code, entry) in entries.iter_mut().enumerate().skip(1) {
        let Some(metas) = DATABASE.by_code(&(code as u16)) else {
            continue;
        };
        let mut fast = true;
        let mut lengths = 0u32;
        let mut risk = Risk::default();
        for meta in &metas {
            for kind in TYPES {
                let Some(desc) = meta.descriptors().get(kind) else {
                    continue;
                };
                for &len in desc.possible_length() {
                    if len < 32 {
                        lengths |= 1 << len;
                    }
                }
            }
            if let Some(prefix) = meta.national_prefix() {
                fast &= analyse_prefix_pattern(prefix, &mut risk).is_some();
            }
            if let Some(parsing) = meta.national_prefix_for_parsing() {
                fast &= analyse_prefix_pattern(parsing.as_str(), &mut risk).is_some();
            }
        }
        if lengths == 0 {
            // Codes without length data: accept any length the full parse
            // accepts (2..=17), as libphonenumber does.
            lengths = (2..=17).fold(0, |acc, n| acc | 1 << n);
        }
        *entry = CodeEntry {
            lengths,
            min_len: lengths.trailing_zeros() as u8,
            max_len: lengths.ilog2() as u8,
            fast,
            risky_first_digit: risk.first_digits,
            risky_prefixes: risk.prefixes,
            risky_len: risk.lengths,
        };
    }
    CodeTable { entries }
}
