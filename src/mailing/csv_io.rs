//! Recipients from CSV, and the per-recipient export to CSV.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};

use super::Template;
use super::model::{Recipient, RecipientRow};

/// The longest field read from a recipients file (a longer one is an
/// error naming its line and column, not a 50 MB text stored whole).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// A recipients file that cannot be read: the line (1 is the header) and,
/// where one is to blame, the column.
///
/// ```
/// use crm_comms::mailing::{Template, read_recipients};
///
/// let t: Template = "Hei {firstname}".parse()?;
/// let e = read_recipients("number,firstname,FirstName\n".as_bytes(), &t).unwrap_err();
/// assert_eq!((e.line(), e.column()), (1, Some("firstname")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("recipients: line {line}{}: {message}", column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default())]
pub struct RecipientsError {
    line: u64,
    column: Option<String>,
    message: String,
}

impl RecipientsError {
    fn new(line: u64, column: Option<&str>, message: impl Into<String>) -> Self {
        RecipientsError {
            line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The line (1 is the header).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The column to blame, if one is.
    #[must_use]
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// What is wrong, without the line and column.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Reads recipients from CSV whose header row names the columns: one
/// column `number` (or `mobile`, `phone`), the others the template's
/// variables (names compared case-insensitively, and each named once).
/// Fields are separated by commas, semicolons (Norwegian Excel's default)
/// or tabs, whichever the header uses. Each recipient carries its line
/// number (in `\r\n` files too).
///
/// Everything is checked before anything is returned, so a bad file
/// enqueues nothing. For a file too large to hold, [`RecipientReader`]
/// reads one recipient at a time.
///
/// # Errors
///
/// A [`RecipientsError`] naming the line and column: no number column, a
/// column named twice, a variable of `template` no column gives, a line
/// with another number of fields than the header, a quote never closed, a
/// field over [`MAX_FIELD_BYTES`], a line that is not UTF-8 CSV.
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
/// let semicolons = read_recipients("number;firstname\r\n41000001;Kari\r\n".as_bytes(), &t)?;
/// assert_eq!(semicolons[0].line, Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_recipients(
    input: impl Read,
    template: &Template,
) -> Result<Vec<Recipient>, RecipientsError> {
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RecipientReader<R> {
    records: csv::StringRecordsIntoIter<Source<R>>,
    headers: Vec<String>,
    number_col: usize,
    next_line: u64,
    /// Where the last record started (a quote never closed swallowed the
    /// rest of the file into it).
    last_start: u64,
    odd_quotes: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What the CSV reader reads: the header line read ahead, then the rest,
/// with its quotes counted.
type Source<R> = QuoteParity<std::io::Chain<std::io::Cursor<Vec<u8>>, BufReader<R>>>;

/// Counts the quotes a reader passes on: in well-formed CSV there is an
/// even number of them (a quoted field has two, an escaped quote two), so
/// an odd count at the end is a quote never closed — which `csv` reads as
/// one field to the end of the file.
struct QuoteParity<R> {
    inner: R,
    odd: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<R: Read> Read for QuoteParity<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Parity only: a fold of XORs (no counting crate needed).
        let odd = buf[..n].iter().fold(false, |odd, &b| odd ^ (b == b'"'));
        if odd {
            self.odd
                .fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl<R> std::fmt::Debug for RecipientReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientReader")
            .field("headers", &self.headers)
            .field("next_line", &self.next_line)
            .finish_non_exhaustive()
    }
}

/// The separator the header line uses most (outside quotes): `,`, `;` or
/// tab; a comma when it has none.
fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut quoted = false;
    let mut counts = [0usize; 3];
    for &b in header {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        [b',', b';', b'\t'][best]
    }
}

impl<R: Read> RecipientReader<R> {
    /// Reads and checks the header row (its separator decides the file's).
    ///
    /// # Errors
    ///
    /// As [`read_recipients`], for line 1.
    pub fn new(input: R, template: &Template) -> Result<Self, RecipientsError> {
        let mut input = BufReader::new(input);
        let mut first = Vec::new();
        (&mut input)
            .take(MAX_FIELD_BYTES as u64)
            .read_until(b'\n', &mut first)
            .map_err(|e| RecipientsError::new(1, None, e.to_string()))?;
        let delimiter = sniff_delimiter(&first);
        let odd_quotes = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let input = QuoteParity {
            inner: std::io::Cursor::new(first).chain(input),
            odd: odd_quotes.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| RecipientsError::new(1, None, e.to_string()))?
            .iter()
            .map(str::to_ascii_lowercase)
            .collect();
        for (i, h) in headers.iter().enumerate() {
            if headers[..i].contains(h) {
                return Err(RecipientsError::new(
                    1,
                    Some(h),
                    "the column is named twice (names are compared without case)",
                ));
            }
        }
        let number_col = headers
            .iter()
            .position(|h| matches!(h.as_str(), "number" | "mobile" | "phone"))
            .ok_or_else(|| {
                RecipientsError::new(
                    1,
                    None,
                    format!("no `number` column (columns: {})", headers.join(", ")),
                )
            })?;
        for v in template.variables() {
            if !headers.iter().any(|h| h == v) {
                return Err(RecipientsError::new(
                    1,
                    None,
                    format!(
                        "the template's {{{v}}} has no column (columns: {})",
                        headers.join(", ")
                    ),
                ));
            }
        }
        Ok(RecipientReader {
            records: reader.into_records(),
            headers,
            number_col,
            next_line: 2,
            last_start: 1,
            odd_quotes,
        })
    }
}

impl<R: Read> Iterator for RecipientReader<R> {
    type Item = Result<Recipient, RecipientsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.next_line;
        let next = match self.records.next() {
            Some(next) => next,
            None if self.odd_quotes.load(std::sync::atomic::Ordering::Relaxed)
                && self.next_line != u64::MAX =>
            {
                self.next_line = u64::MAX;
                return Some(Err(RecipientsError::new(
                    self.last_start,
                    None,
                    "a quote is opened and never closed",
                )));
            }
            None => return None,
        };
        if self.next_line == u64::MAX {
            return None;
        }
        let record = match next {
            Ok(record) => record,
            Err(e) => {
                let what = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_owned(),
                    _ => e.to_string(),
                };
                // Stop here: a reader error may leave the rest unreadable.
                self.next_line = u64::MAX;
                return Some(Err(RecipientsError::new(line, None, what)));
            }
        };
        // Counted here: `csv`'s own line numbers are one short in files
        // with `\r\n` line ends. The next record starts after every line
        // break this one holds (quoted fields can span lines).
        let start = line;
        self.last_start = start;
        let breaks: u64 = record
            .iter()
            .map(|f| f.bytes().filter(|&b| b == b'\n').count() as u64)
            .sum();
        self.next_line = start + 1 + breaks;
        if record.len() != self.headers.len() {
            // A quote never closed swallows the following lines into one
            // field: say so, not "1 fields".
            let what = if breaks > 0 && record.len() < self.headers.len() {
                "a quote is opened and never closed".to_owned()
            } else {
                format!(
                    "{} fields, but the header has {}",
                    record.len(),
                    self.headers.len()
                )
            };
            return Some(Err(RecipientsError::new(start, None, what)));
        }
        if let Some((i, _)) = record
            .iter()
            .enumerate()
            .find(|(_, f)| f.len() > MAX_FIELD_BYTES)
        {
            return Some(Err(RecipientsError::new(
                start,
                self.headers.get(i).map(String::as_str),
                format!("the field is longer than {MAX_FIELD_BYTES} bytes"),
            )));
        }
        let mut variables = HashMap::with_capacity(self.headers.len());
        for (h, v) in self.headers.iter().zip(record.iter()) {
            variables.insert(h.clone(), v.to_owned());
        }
        Some(Ok(Recipient {
            number: record.get(self.number_col).unwrap_or("").to_owned(),
            variables,
            line: Some(start),
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
