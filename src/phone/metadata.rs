//! libphonenumber's numbering metadata, read once from the `phonenumber`
//! crate's database and compiled into our own lock-free tables.
//!
//! `phonenumber` 0.3 keeps its compiled regexes in one cache behind a mutex
//! (every parse of every thread queues on it) and exposes the metadata's
//! pattern sources. We compile each region's patterns once, the first time
//! a number of that region is read, into a [`OnceLock`]: afterwards reading
//! a number takes no lock and allocates nothing.
//!
//! What is derived here rather than read, as libphonenumber's metadata
//! build derives it: a region's possible lengths are the union of its
//! number types' lengths (without "no international dialling"), and
//! "fixed line and mobile share a pattern" is the two patterns being equal.
//! `tests/core/phone_oracle.rs` checks the result against libphonenumber.

// Why one file above 500 lines: one idea, the compiled tables and the
// lookups that mirror libphonenumber's steps one for one (each names the
// function it follows); `tests/core/phone_oracle.rs` holds them to the
// oracle.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

use super::PhoneNumberType;

/// Longest national significant number (libphonenumber's `MAX_LENGTH_FOR_NSN`).
pub(super) const MAX_NSN_LEN: usize = 17;
/// Shortest national significant number (`MIN_LENGTH_FOR_NSN`).
pub(super) const MIN_NSN_LEN: usize = 2;

/// The index of a region in [`Regions::list`].
pub(super) type RegionIndex = u16;

/// Every region of the metadata, by index, by calling code and by id.
pub(super) struct Regions {
    list: Vec<Region>,
    /// Calling code → its regions, the main country first, then by id (the
    /// order libphonenumber's `COUNTRY_CODE_TO_REGION_CODE` has).
    by_code: Vec<Vec<RegionIndex>>,
    by_id: HashMap<&'static str, RegionIndex>,
}

/// One region (`NO`) or non-geographic entity (`001` for +800, +882, …).
pub(super) struct Region {
    pub(super) id: &'static str,
    pub(super) code: u16,
    meta: &'static Metadata,
    compiled: OnceLock<Compiled>,
}

/// A number type's lengths: bit `n` set when the type has numbers of `n`
/// digits; `0` when the metadata gives none (only the pattern decides).
type Lengths = u32;

/// The general description's slot in [`Compiled::types`]'s patterns.
const GENERAL: usize = 0;
/// The order libphonenumber's `_number_type_helper` tries the special
/// types in; their slots follow [`GENERAL`], then fixed line and mobile.
const SPECIAL: [PhoneNumberType; 8] = [
    PhoneNumberType::PremiumRate,
    PhoneNumberType::TollFree,
    PhoneNumberType::SharedCost,
    PhoneNumberType::Voip,
    PhoneNumberType::PersonalNumber,
    PhoneNumberType::Pager,
    PhoneNumberType::Uan,
    PhoneNumberType::Voicemail,
];
const FIXED_LINE: usize = 1 + SPECIAL.len();
const MOBILE: usize = FIXED_LINE + 1;
const SLOTS: usize = MOBILE + 1;

/// A region's patterns, compiled.
///
/// The number-type patterns are one dense DFA over digits (one pattern per
/// type, all matched in one walk over the number, no lock, no allocation):
/// libphonenumber tries up to ten regexes one after the other. Patterns
/// are compiled without Unicode, so `\d` is `[0-9]` (numbers are ASCII
/// digits by the time they get here).
pub(super) struct Compiled {
    types: Dfa,
    /// DFA pattern index → slot (`GENERAL`, special types, fixed, mobile).
    slot_of: Vec<u8>,
    /// Each slot's lengths (`0`: no length data).
    slot_lengths: [Lengths; SLOTS],
    /// Possible lengths of any number of the region.
    lengths: Lengths,
    /// Lengths only dialable locally (without an area code).
    local_lengths: Lengths,
    min_len: usize,
    max_len: usize,
    same_fixed_and_mobile: bool,
    /// The national prefix (and carrier code) pattern, anchored at the
    /// start: a DFA for where it ends, and the regex with its transform
    /// rule (in `regex`'s `${n}` syntax) where the metadata has one.
    national_prefix: Option<(Dfa, Option<(Regex, String)>)>,
    /// The international (IDD) prefix, anchored at the start.
    idd: Option<Dfa>,
    /// Leading digits that tell this region apart from the others of its
    /// calling code.
    leading_digits: Option<Dfa>,
}

/// A dense DFA over ASCII digits, searched anchored at the start (its
/// start state looked up once).
struct Dfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Dfa {
    fn new(patterns: &[String], kind: MatchKind) -> Dfa {
        let dfa = dense::Builder::new()
            .syntax(
                syntax::Config::new()
                    .unicode(false)
                    .utf8(false)
                    .ignore_whitespace(true),
            )
            .thompson(thompson::Config::new().utf8(false))
            .configure(
                dense::Config::new()
                    .match_kind(kind)
                    .start_kind(StartKind::Anchored)
                    .minimize(false),
            )
            .build_many(patterns)
            .unwrap_or_else(|e| panic!("metadata patterns {patterns:?} do not compile: {e}"));
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .unwrap_or_else(|e| panic!("metadata patterns {patterns:?}: no start state: {e}"));
        Dfa { dfa, start }
    }

    /// A pattern matched at the start of the text (leftmost-first): where
    /// the match ends. The search loop of `regex-automata`'s own
    /// `try_search_fwd`, without its set-up (a DFA's match states come one
    /// byte after the match).
    fn prefix_end(&self, text: &str) -> Option<usize> {
        let dfa = &self.dfa;
        let mut state = self.start;
        let mut end = None;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            state = dfa.next_state(state, b);
            if dfa.is_special_state(state) {
                if dfa.is_match_state(state) {
                    end = Some(i);
                } else if dfa.is_dead_state(state) || dfa.is_quit_state(state) {
                    return end;
                }
            }
        }
        state = dfa.next_eoi_state(state);
        if dfa.is_match_state(state) {
            end = Some(text.len());
        }
        end
    }

    /// Every pattern that matches the whole text, as a bit set of pattern
    /// indexes (`MatchKind::All`, patterns anchored at both ends).
    fn whole_matches(&self, text: &str) -> u32 {
        let dfa = &self.dfa;
        let mut state = self.start;
        for &b in text.as_bytes() {
            state = dfa.next_state(state, b);
            if dfa.is_dead_state(state) {
                return 0;
            }
        }
        state = dfa.next_eoi_state(state);
        if !dfa.is_match_state(state) {
            return 0;
        }
        (0..dfa.match_len(state)).fold(0, |acc, i| {
            acc | bit(dfa.match_pattern(state, i).as_usize())
        })
    }
}

/// How a national number's length compares with a region's lengths
/// (libphonenumber's `ValidationResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LengthCheck {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

const fn bit(n: usize) -> u32 {
    if n < 32 { 1 << n } else { 0 }
}

fn length_bits(lengths: &[u16]) -> u32 {
    lengths.iter().fold(0, |acc, &l| acc | bit(l as usize))
}

/// A metadata pattern as a whole-string match.
fn whole(source: &str) -> String {
    format!("^(?:{source})$")
}

/// A metadata pattern as a match at the start of the string.
fn at_start(source: &str) -> String {
    format!("^(?:{source})")
}

/// Java's `$1` group references as `regex`'s `${1}` (so `$15` stays group
/// 1 followed by `5`, as in Java with fewer than 15 groups).
fn transform_rule(rule: &str) -> String {
    let mut out = String::with_capacity(rule.len() + 4);
    let mut chars = rule.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('$', Some(d)) if d.is_ascii_digit() => {
                out.push_str("${");
                out.push(*d);
                out.push('}');
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            (c, _) => out.push(c),
        }
    }
    out
}

impl Compiled {
    #[allow(
        clippy::redundant_closure_for_method_calls,
        reason = "`phonenumber` does not export its pattern type (regex_cache's CachedRegex), so its `as_str` cannot be named"
    )]
    fn new(meta: &Metadata) -> Compiled {
        let d = meta.descriptors();
        let slots: [Option<&Descriptor>; SLOTS] = [
            Some(d.general()),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        let mut patterns = Vec::new();
        let mut slot_of = Vec::new();
        let mut slot_lengths = [0; SLOTS];
        for (slot, desc) in slots.iter().enumerate() {
            if let Some(desc) = desc {
                patterns.push(whole(desc.national_number().as_str()));
                slot_of.push(u8::try_from(slot).unwrap_or(u8::MAX));
                slot_lengths[slot] = length_bits(desc.possible_length());
            }
        }
        let general = d.general();
        let (mut lengths, mut local_lengths) = (
            length_bits(general.possible_length()),
            length_bits(general.possible_local_length()),
        );
        if lengths == 0 {
            for x in slots[1..].iter().flatten() {
                lengths |= length_bits(x.possible_length());
                local_lengths |= length_bits(x.possible_local_length());
            }
        }
        // The general description's lengths are the union of the types'.
        slot_lengths[GENERAL] = lengths;
        // A length both possible and local-only is possible.
        local_lengths &= !lengths;
        let same_fixed_and_mobile = match (d.fixed_line(), d.mobile()) {
            (Some(f), Some(m)) => f.national_number().as_str() == m.national_number().as_str(),
            _ => false,
        };
        let one = |source: &str, kind| Dfa::new(&[at_start(source)], kind);
        Compiled {
            types: Dfa::new(&patterns, MatchKind::All),
            slot_of,
            slot_lengths,
            lengths,
            local_lengths,
            min_len: lengths.trailing_zeros() as usize,
            max_len: lengths.checked_ilog2().unwrap_or(0) as usize,
            same_fixed_and_mobile,
            // Without a pattern of its own, the national prefix itself is
            // stripped (as libphonenumber's metadata build sets it).
            national_prefix: meta
                .national_prefix_for_parsing()
                .map(|p| p.as_str())
                .or(meta.national_prefix())
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let rule = meta
                        .national_prefix_transform_rule()
                        .filter(|r| !r.is_empty())
                        .map(|r| {
                            let re = RegexBuilder::new(&at_start(p))
                                .unicode(false)
                                .ignore_whitespace(true)
                                .build()
                                .unwrap_or_else(|e| {
                                    panic!("metadata pattern {p:?} does not compile: {e}")
                                });
                            (re, transform_rule(r))
                        });
                    (one(p, MatchKind::LeftmostFirst), rule)
                }),
            idd: meta
                .international_prefix()
                .map(|p| one(p.as_str(), MatchKind::LeftmostFirst)),
            leading_digits: meta
                .leading_digits()
                .map(|p| one(p.as_str(), MatchKind::LeftmostFirst)),
        }
    }

    /// Which slots' patterns match the whole number (no length checks).
    fn slots_matching(&self, nsn: &str) -> u32 {
        let patterns = self.types.whole_matches(nsn);
        if patterns == 0 {
            return 0;
        }
        self.slot_of
            .iter()
            .enumerate()
            .filter(|&(i, _)| patterns & bit(i) != 0)
            .fold(0, |acc, (_, &slot)| acc | bit(slot as usize))
    }

    /// Whether the whole number matches the region's general pattern
    /// (libphonenumber's `_match_national_number` on the general
    /// description: the pattern only, no length check).
    pub(super) fn matches_general(&self, nsn: &str) -> bool {
        self.slots_matching(nsn) & bit(GENERAL) != 0
    }

    /// libphonenumber's `_test_number_length` for any type.
    pub(super) fn test_length(&self, nsn: &str) -> LengthCheck {
        let len = nsn.len();
        if self.lengths == 0 {
            return LengthCheck::Invalid;
        }
        if self.local_lengths & bit(len) != 0 {
            LengthCheck::LocalOnly
        } else if len < self.min_len {
            LengthCheck::TooShort
        } else if len > self.max_len {
            LengthCheck::TooLong
        } else if self.lengths & bit(len) != 0 {
            LengthCheck::Possible
        } else {
            LengthCheck::Invalid
        }
    }

    /// libphonenumber's `_maybe_strip_national_prefix_carrier_code`: the
    /// national number with a national prefix (and carrier code) removed
    /// or transformed, when the metadata says so and the result is still
    /// viable; `None` when nothing is to be stripped.
    pub(super) fn strip_national_prefix<'a>(&self, nsn: &'a str) -> Option<Cow<'a, str>> {
        let (prefix, rule) = self.national_prefix.as_ref()?;
        if nsn.is_empty() {
            return None;
        }
        let end = prefix.prefix_end(nsn)?;
        let stripped = match rule {
            Some((re, rule)) => {
                let caps = re.captures(nsn)?;
                if caps.len() > 1 && caps.get(caps.len() - 1).is_some() {
                    let mut out = String::with_capacity(nsn.len() + rule.len());
                    caps.expand(rule, &mut out);
                    out.push_str(&nsn[end..]);
                    Cow::Owned(out)
                } else {
                    Cow::Borrowed(&nsn[end..])
                }
            }
            None => Cow::Borrowed(&nsn[end..]),
        };
        if self.matches_general(nsn) && !self.matches_general(&stripped) {
            return None;
        }
        Some(stripped)
    }

    /// The length of an international (IDD) prefix at the start of
    /// `digits`, unless the digit after it is `0` (libphonenumber's
    /// `_parse_prefix_as_idd`).
    pub(super) fn idd_len(&self, digits: &str) -> Option<usize> {
        let end = self.idd.as_ref()?.prefix_end(digits)?;
        if digits.as_bytes().get(end) == Some(&b'0') {
            return None;
        }
        Some(end)
    }

    /// libphonenumber's `_number_type_helper`: the type of a national
    /// significant number in this region, `None` where it is in no range.
    pub(super) fn number_type(&self, nsn: &str) -> Option<PhoneNumberType> {
        let len_bit = bit(nsn.len());
        if self.lengths != 0 && self.lengths & len_bit == 0 {
            return None;
        }
        let matched = self.slots_matching(nsn);
        // `_is_number_matching_desc`: the length is the type's, and the
        // pattern matches.
        let is = |slot: usize| {
            matched & bit(slot) != 0
                && (self.slot_lengths[slot] == 0 || self.slot_lengths[slot] & len_bit != 0)
        };
        if !is(GENERAL) {
            return None;
        }
        if let Some(i) = (0..SPECIAL.len()).find(|&i| is(1 + i)) {
            return Some(SPECIAL[i]);
        }
        if is(FIXED_LINE) {
            return Some(if self.same_fixed_and_mobile || is(MOBILE) {
                PhoneNumberType::FixedLineOrMobile
            } else {
                PhoneNumberType::FixedLine
            });
        }
        if !self.same_fixed_and_mobile && is(MOBILE) {
            return Some(PhoneNumberType::Mobile);
        }
        None
    }

    /// Whether this region's leading digits match the start of `nsn`.
    fn leading_digits_match(&self, nsn: &str) -> Option<bool> {
        self.leading_digits
            .as_ref()
            .map(|r| r.prefix_end(nsn).is_some())
    }
}

impl Region {
    /// The region's compiled patterns (compiled on first use).
    pub(super) fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| Compiled::new(self.meta))
    }
}

impl Regions {
    /// The region at `index`.
    pub(super) fn get(&self, index: RegionIndex) -> &Region {
        &self.list[index as usize]
    }

    /// The regions of a calling code, the main country first.
    pub(super) fn for_code(&self, code: u16) -> &[RegionIndex] {
        self.by_code.get(code as usize).map_or(&[], Vec::as_slice)
    }

    /// The region with this id (`NO`, `001`).
    pub(super) fn by_id(&self, id: &str) -> Option<RegionIndex> {
        self.by_id.get(id).copied()
    }

    /// libphonenumber's `get_region_code_for_number` and number type: the
    /// region of the calling code that has this national number, and its
    /// type there; `None` when no region of the code has it.
    pub(super) fn region_and_type(
        &self,
        code: u16,
        nsn: &str,
    ) -> Option<(RegionIndex, PhoneNumberType)> {
        let regions = self.for_code(code);
        if let [only] = regions {
            return Some((*only, self.get(*only).compiled().number_type(nsn)?));
        }
        for &r in regions {
            let c = self.get(r).compiled();
            match c.leading_digits_match(nsn) {
                Some(true) => return Some((r, c.number_type(nsn)?)),
                Some(false) => {}
                None => {
                    if let Some(kind) = c.number_type(nsn) {
                        return Some((r, kind));
                    }
                }
            }
        }
        None
    }

    /// The calling code at the start of `digits` (one to three digits, no
    /// leading zero), with its length (libphonenumber's
    /// `_extract_country_code`).
    pub(super) fn extract_code(&self, digits: &str) -> Option<(u16, usize)> {
        if digits.starts_with('0') {
            return None;
        }
        let mut code = 0u16;
        for (i, b) in digits.bytes().take(3).enumerate() {
            code = code * 10 + u16::from(b - b'0');
            if !self.for_code(code).is_empty() {
                return Some((code, i + 1));
            }
        }
        None
    }
}

fn build() -> Regions {
    let mut list = Vec::new();
    let mut by_code = vec![Vec::new(); 1000];
    let mut by_id = HashMap::new();
    // By calling code: the database's by-id map holds one of the nine
    // non-geographic entities that share the id `001`.
    for (code, slot) in (0u16..).zip(by_code.iter_mut()) {
        let Some(mut metas) = DATABASE.by_code(&code) else {
            continue;
        };
        // Main countries first, then by id: libphonenumber's region order.
        metas.sort_by_key(|m| (!m.is_main_country_for_code(), m.id()));
        for meta in metas {
            let Ok(index) = RegionIndex::try_from(list.len()) else {
                break;
            };
            slot.push(index);
            by_id.entry(meta.id()).or_insert(index);
            list.push(Region {
                id: meta.id(),
                code,
                meta,
                compiled: OnceLock::new(),
            });
        }
    }
    Regions {
        list,
        by_code,
        by_id,
    }
}

/// The regions, built on first use (reading `phonenumber`'s database).
pub(super) fn regions() -> &'static Regions {
    static REGIONS: LazyLock<Regions> = LazyLock::new(build);
    &REGIONS
}
