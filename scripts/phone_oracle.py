#!/usr/bin/env python3
"""Writes tests/fixtures/phone/oracle.tsv: libphonenumber's reading of phone
numbers as people type them, the oracle `tests/core/phone_oracle.rs` checks
`PhoneNumber::parse` against.

Run it with the `phonenumbers` package from PyPI at the version whose
metadata matches the `phonenumber` crate's (the `+9.0.33` in Cargo.lock):

    python3 -m venv /tmp/pn && /tmp/pn/bin/pip install phonenumbers==9.0.33
    /tmp/pn/bin/python scripts/phone_oracle.py > tests/fixtures/phone/oracle.tsv

The output is deterministic (a fixed seed); the tests never run Python.

Columns (tab-separated, one case a line, `#` lines are comments):
  input     the text as typed (may contain spaces, NBSP, dashes, letters)
  default   the default country (region code), or `-` for none
  expected  `+E164` when libphonenumber parses it to a valid number,
            `invalid` when it fails to parse or the number is not valid,
            `letters` when the input has letters libphonenumber would turn
            into keypad digits or drop (the crate refuses them: a typo is
            not a vanity number), `extension` when libphonenumber reads an
            extension (the crate refuses those too)
  type      libphonenumber's number type for a valid number, else `-`
  reading   for `letters`/`extension`, what libphonenumber made of it
            (E.164 or `invalid`); else `-`
  kind      how the case was made (e164, intl, national, idd, cc-no-plus,
            dots, dashes, trunk, nbsp, other-default, mutated, random,
            letters, extension, ...)
"""

import random
import sys

import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as F
from phonenumbers import PhoneNumberType as T

SEED = 20261204
NORDIC = ["NO", "SE", "DK", "FI", "IS", "FO", "GL", "AX", "SJ"]
OTHERS = [
    "GB", "DE", "FR", "NL", "BE", "PL", "ES", "IT", "PT", "CH", "AT", "IE",
    "EE", "LV", "LT", "US", "CA", "AU", "NZ", "IN", "BR", "CN", "JP", "ZA",
    "RU", "TR", "AE", "MX", "AR", "SG",
]
TYPES = [
    T.MOBILE, T.FIXED_LINE, T.FIXED_LINE_OR_MOBILE, T.TOLL_FREE,
    T.PREMIUM_RATE, T.SHARED_COST, T.VOIP, T.PERSONAL_NUMBER, T.PAGER,
    T.UAN, T.VOICEMAIL,
]
TYPE_NAMES = {
    T.FIXED_LINE: "fixed_line", T.MOBILE: "mobile",
    T.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile", T.TOLL_FREE: "toll_free",
    T.PREMIUM_RATE: "premium_rate", T.SHARED_COST: "shared_cost",
    T.VOIP: "voip", T.PERSONAL_NUMBER: "personal_number", T.PAGER: "pager",
    T.UAN: "uan", T.VOICEMAIL: "voicemail", T.UNKNOWN: "unknown",
}
NBSP = "\u00a0"
EN_DASH = "\u2013"

rng = random.Random(SEED)
rows = []
seen = set()


def reading(text, region):
    """libphonenumber's answer: (E.164 or None, type name or '-', ext)."""
    try:
        n = pn.parse(text, region)
    except pn.NumberParseException:
        return None, "-", False
    ext = bool(n.extension)
    if not pn.is_valid_number(n):
        return None, "-", ext
    return pn.format_number(n, F.E164), TYPE_NAMES[pn.number_type(n)], ext


def add(text, region, kind):
    key = (text, region)
    if key in seen or "\t" in text or "\n" in text or len(text.encode()) > 64:
        return
    seen.add(key)
    e164, typ, ext = reading(text, region)
    has_letters = any(c.isalpha() for c in text)
    if ext:
        rows.append((text, region or "-", "extension", "-", e164 or "invalid", kind))
    elif has_letters and not text.startswith("tel:"):
        rows.append((text, region or "-", "letters", "-", e164 or "invalid", kind))
    elif e164:
        rows.append((text, region or "-", e164, typ, "-", kind))
    else:
        rows.append((text, region or "-", "invalid", "-", "-", kind))


def numbers_for(region, per_type):
    """Valid numbers of each type: the example and random neighbours."""
    out = []
    for t in TYPES:
        ex = pn.example_number_for_type(region, t)
        if ex is None:
            continue
        nsn = pn.national_significant_number(ex)
        out.append(ex)
        tries = 0
        found = 0
        while found < per_type and tries < per_type * 30:
            tries += 1
            keep = rng.randint(max(1, len(nsn) - 6), len(nsn) - 1)
            cand = nsn[:keep] + "".join(rng.choice("0123456789") for _ in range(len(nsn) - keep))
            try:
                n = pn.parse("+%d%s" % (ex.country_code, cand), None)
            except pn.NumberParseException:
                continue
            if pn.is_valid_number(n) and pn.region_code_for_number(n) == region:
                out.append(n)
                found += 1
    return out


def typed_forms(n, region):
    cc = n.country_code
    nsn = pn.national_significant_number(n)
    e164 = pn.format_number(n, F.E164)
    intl = pn.format_number(n, F.INTERNATIONAL)
    national = pn.format_number(n, F.NATIONAL)
    yield e164, None, "e164"
    yield e164, region, "e164"
    yield intl, None, "intl"
    yield intl, "NO", "intl"
    yield national, region, "national"
    yield "00%d %s" % (cc, nsn), "NO", "idd"
    yield "00%d%s" % (cc, nsn), "SE", "idd"
    yield "%d%s" % (cc, nsn), region, "cc-no-plus"
    yield "%d %s" % (cc, national), region, "cc-no-plus"
    yield nsn, region, "national-digits"
    yield national.replace(" ", "."), region, "dots"
    yield national.replace(" ", "-"), region, "dashes"
    yield national.replace(" ", EN_DASH), region, "dashes"
    yield national.replace(" ", NBSP), region, "nbsp"
    yield intl.replace(" ", "-"), None, "dashes"
    yield "+%d (0)%s" % (cc, nsn), None, "trunk"
    yield "+%d (0) %s" % (cc, national.lstrip("0")), region, "trunk"
    yield "(0)%s" % nsn, region, "trunk"
    yield "(%s) %s" % (nsn[:3], nsn[3:]), region, "parens"
    yield "+%d %s" % (cc, national), None, "intl-with-national"
    yield national, "NO" if region != "NO" else "SE", "other-default"
    yield " %s " % national, region, "padded"
    yield "tel:%s" % e164, None, "tel"


def mutations(n, region):
    cc = n.country_code
    nsn = pn.national_significant_number(n)
    # a digit dropped, added, changed
    i = rng.randrange(len(nsn))
    yield nsn[:i] + nsn[i + 1:], region, "mutated-short"
    yield nsn + rng.choice("0123456789"), region, "mutated-long"
    j = rng.randrange(len(nsn))
    yield nsn[:j] + rng.choice("0123456789") + nsn[j + 1:], region, "mutated-digit"
    yield rng.choice("0123456789") + nsn[1:], region, "mutated-first"
    yield "+%d%s" % (cc, nsn[:-1]), None, "mutated-short"
    yield "+%d%s%d" % (cc, nsn, rng.randrange(10)), None, "mutated-long"
    # letters in place of digits (typos and vanity)
    k = rng.randrange(len(nsn))
    yield nsn[:k] + rng.choice("OolIabcS") + nsn[k + 1:], region, "letters"
    yield nsn[:2] + "abc" + nsn[5:], region, "letters"
    yield "+%d %s ext. %d" % (cc, nsn, rng.randrange(1, 999)), None, "extension"


def random_inputs(region, count):
    for _ in range(count):
        length = rng.randint(2, 16)
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        style = rng.random()
        if style < 0.5:
            yield digits, region, "random"
        elif style < 0.8:
            yield "+" + digits, None, "random"
        else:
            yield "00" + digits, region, "random"


def main():
    regions = NORDIC + OTHERS
    for region in regions:
        per_type = 4 if region in NORDIC else 1
        for n in numbers_for(region, per_type):
            for text, default, kind in typed_forms(n, region):
                add(text, default, kind)
            for text, default, kind in mutations(n, region):
                add(text, default, kind)
        for text, default, kind in random_inputs(region, 60 if region in NORDIC else 25):
            add(text, default, kind)
    # Non-geographic numbers (+800, +808, +870, +878, +881, +882, +883,
    # +888, +979): the metadata's region 001.
    for cc in sorted(pn.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        ex = pn.example_number_for_non_geo_entity(cc)
        if ex is None:
            continue
        for text, default, kind in typed_forms(ex, "NO"):
            if kind in ("e164", "intl", "idd", "dashes", "tel"):
                add(text, default, "non-geo-" + kind)
        for text, default, kind in mutations(ex, None):
            if default is None:
                add(text, default, "non-geo-" + kind)
    # The cases the issue reports, by hand.
    for text, default in [
        ("47 12 34 56", "NO"), ("47123456", "NO"), ("48 12 34 56", "NO"),
        ("45930269", "DK"), ("9000abc1", "NO"), ("900 00 00O", "NO"),
        ("12345", "NO"), ("4712345678", "NO"), ("49123456", "NO"),
        ("+7 8 236 013 9551", None), ("+47 (0)22 33 44 55", None),
        ("22 33 44 55", "NO"), ("0047 22 33 44 55", "NO"),
        ("+44 (0)20 7946 0018", None), ("1-800-FLOWERS", "US"),
        ("+1 (650) 253-0000", None), ("(650) 253-0000", "US"),
        ("4641234567", "SE"), ("070-123 45 67", "SE"), ("+358 40 1234567", None),
        ("040 1234567", "FI"), ("+354 611 1234", None), ("+298 211234", None),
        ("+299 221234", None), ("+47 79 12 34 56", None), ("+4779123456", None),
        ("+47 800 12 345", None), ("+47 820 12 345", None), ("+47 02000", None),
        ("+47 85 01 23 45", None), ("+47 590 12 345", None), ("+47 880 12 345", None),
    ]:
        add(text, default, "reported")
    kinds = {}
    for r in rows:
        kinds[r[2] if r[2] in ("invalid", "letters", "extension") else "valid"] = (
            kinds.get(r[2] if r[2] in ("invalid", "letters", "extension") else "valid", 0) + 1
        )
    out = sys.stdout
    out.write("# libphonenumber (Python phonenumbers %s) reading of numbers as typed;\n" % pn.__version__)
    out.write("# made by scripts/phone_oracle.py (seed %d): %d cases over %d countries: %s\n" % (
        SEED, len(rows), len(regions), ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
    out.write("# input\tdefault\texpected\ttype\treading\tkind\n")
    for r in rows:
        out.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
