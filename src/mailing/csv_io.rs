//! Recipients from CSV, and the per-recipient export to CSV.

use std::collections::HashMap;
use std::io::{Read, Write};

use super::Template;
use super::model::{Recipient, RecipientRow};
use crate::sms::{ErrorKind, SmsError};

fn bad(m: String) -> SmsError {
    SmsError::before_provider(ErrorKind::InvalidMessage, m)
}

/// Reads recipients from CSV whose header row names the columns: one
/// column `number` (or `mobile`, `phone`), the others the template's
/// variables (names compared case-insensitively). Each recipient carries
/// its line number.
///
/// Everything is checked before anything is returned, so a bad file
/// enqueues nothing. For a file too large to hold, [`RecipientReader`]
/// reads one recipient at a time.
///
/// # Errors
///
/// An [`SmsError`] of kind [`ErrorKind::InvalidMessage`] naming the line
/// or column: no number column, a variable of `template` no column gives,
/// a line with another number of fields than the header, a line that is
/// not UTF-8 CSV.
///
/// ```
/// use crm_comms::mailing::{Template, read_recipients};
///
/// let csv = "number,firstname\n+4741000001,Kari\n41000002,Ola\n";
/// let t: Template = "Hei {firstname}".parse()?;
/// let r = read_recipients(csv.as_bytes(), &t)?;
/// assert_eq!(r[1].variables["firstname"], "Ola");
/// assert_eq!(r[1].line, Some(3));
/// let err = read_recipients("number\n+4741000001\n".as_bytes(), &t).unwrap_err();
/// assert_eq!(err.to_string(), "recipients: line 1: the template's {firstname} has no column (columns: number)");
/// # Ok::<(), crm_comms::sms::SmsError>(())
/// ```
pub fn read_recipients(input: impl Read, template: &Template) -> Result<Vec<Recipient>, SmsError> {
    RecipientReader::new(input, template)?.collect()
}

/// Recipients read from CSV one at a time (the rules of
/// [`read_recipients`]): the header is checked when it is made, each line
/// as it is read. Memory stays flat however long the file.
///
/// ```
/// use crm_comms::mailing::{RecipientReader, Template};
///
/// let csv = "number,firstname\n+4741000001,Kari\n41000002\n";
/// let t: Template = "Hei {firstname}".parse()?;
/// let mut r = RecipientReader::new(csv.as_bytes(), &t)?;
/// assert_eq!(r.next().unwrap()?.variables["firstname"], "Kari");
/// assert_eq!(
///     r.next().unwrap().unwrap_err().to_string(),
///     "recipients: line 3: 1 fields, but the header has 2"
/// );
/// # Ok::<(), crm_comms::sms::SmsError>(())
/// ```
pub struct RecipientReader<R> {
    records: csv::StringRecordsIntoIter<R>,
    headers: Vec<String>,
    number_col: usize,
    next_line: u64,
}

impl<R> std::fmt::Debug for RecipientReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientReader")
            .field("headers", &self.headers)
            .field("next_line", &self.next_line)
            .finish_non_exhaustive()
    }
}

impl<R: Read> RecipientReader<R> {
    /// Reads and checks the header row.
    ///
    /// # Errors
    ///
    /// As [`read_recipients`], for line 1.
    pub fn new(input: R, template: &Template) -> Result<Self, SmsError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("recipients: line 1: {e}")))?
            .iter()
            .map(str::to_ascii_lowercase)
            .collect();
        let number_col = headers
            .iter()
            .position(|h| matches!(h.as_str(), "number" | "mobile" | "phone"))
            .ok_or_else(|| {
                bad(format!(
                    "recipients: line 1: no `number` column (columns: {})",
                    headers.join(", ")
                ))
            })?;
        for v in template.variables() {
            if !headers.iter().any(|h| h == v) {
                return Err(bad(format!(
                    "recipients: line 1: the template's {{{v}}} has no column (columns: {})",
                    headers.join(", ")
                )));
            }
        }
        Ok(RecipientReader {
            records: reader.into_records(),
            headers,
            number_col,
            next_line: 2,
        })
    }
}

impl<R: Read> Iterator for RecipientReader<R> {
    type Item = Result<Recipient, SmsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.next_line;
        let record = match self.records.next()? {
            Ok(record) => record,
            Err(e) => {
                let at = e.position().map_or(line, csv::Position::line);
                let what = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("{len} fields, but the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_owned(),
                    _ => e.to_string(),
                };
                return Some(Err(bad(format!("recipients: line {at}: {what}"))));
            }
        };
        let line = record.position().map_or(line, csv::Position::line);
        self.next_line = line + 1;
        let mut variables = HashMap::with_capacity(self.headers.len());
        for (h, v) in self.headers.iter().zip(record.iter()) {
            variables.insert(h.clone(), v.to_owned());
        }
        Some(Ok(Recipient {
            number: record.get(self.number_col).unwrap_or("").to_owned(),
            variables,
            line: Some(line),
        }))
    }
}

/// The export's header.
pub const EXPORT_HEADER: [&str; 8] = [
    "line",
    "number",
    "state",
    "parts",
    "client_reference",
    "reference",
    "reason",
    "done_at",
];

/// Writes rows as CSV (with [`EXPORT_HEADER`] when `header`).
///
/// # Errors
///
/// When `out` cannot be written.
pub fn write_rows(out: impl Write, rows: &[RecipientRow], header: bool) -> std::io::Result<()> {
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    if header {
        w.write_record(EXPORT_HEADER).map_err(io)?;
    }
    for r in rows {
        w.write_record(
            [
                r.line.map(|l| l.to_string()).unwrap_or_default(),
                r.number.clone(),
                r.state.to_string(),
                r.parts.to_string(),
                r.client_reference.clone(),
                r.reference.clone().unwrap_or_default(),
                r.reason.clone().unwrap_or_default(),
                r.done_at.clone().unwrap_or_default(),
            ]
            .map(|cell| spreadsheet_safe(&cell).into_owned()),
        )
        .map_err(io)?;
    }
    w.flush()
}

/// A CSV cell a spreadsheet will not run as a formula: a cell starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front
/// (OWASP's advice for CSV injection) — except a number in E.164 form
/// (`+` and digits only), which a spreadsheet can only read as that
/// number. Every CSV this crate writes goes through it.
///
/// ```
/// use crm_comms::mailing::spreadsheet_safe;
/// assert_eq!(spreadsheet_safe("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
/// assert_eq!(spreadsheet_safe("\t=1+1"), "'\t=1+1");
/// assert_eq!(spreadsheet_safe("+4741000001"), "+4741000001");
/// assert_eq!(spreadsheet_safe("-1"), "'-1");
/// assert_eq!(spreadsheet_safe("Kari"), "Kari");
/// ```
#[must_use]
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let e164 = cell
        .strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !e164 => format!("'{cell}").into(),
        _ => cell.into(),
    }
}
