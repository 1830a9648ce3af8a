//! The ISV's side: the Windows registry entries that make a custom scheme
//! (`domycall:`) start a program.

use super::LinkError;
use super::format::SchemePolicy;

/// Which registry hive the scheme is registered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hive {
    /// `HKEY_CLASSES_ROOT\<scheme>`: for every user; importing needs an
    /// administrator.
    #[default]
    ClassesRoot,
    /// `HKEY_CURRENT_USER\Software\Classes\<scheme>`: for the current user
    /// only; no administrator needed.
    CurrentUser,
}

/// The registry entries for a custom call-link scheme, written as the text
/// of a `.reg` file.
///
/// The command is `"<exe>" "%1"`: both quoted, so that a link with spaces or
/// command-line metacharacters stays one argument.
///
/// ```
/// use crm_comms::links::WindowsRegistration;
///
/// let reg = WindowsRegistration::new("domycall", r"C:\Program Files\DoMyCall\domycall.exe")
///     .description("DoMyCall dialer")
///     .build()?;
/// assert_eq!(reg.command_line(), r#""C:\Program Files\DoMyCall\domycall.exe" "%1""#);
/// let text = reg.to_reg_text();
/// assert!(text.contains("[HKEY_CLASSES_ROOT\\domycall\\shell\\open\\command]\r\n"));
/// assert!(text.contains(r#"@="\"C:\\Program Files\\DoMyCall\\domycall.exe\" \"%1\"""#));
/// # Ok::<(), crm_comms::links::LinkError>(())
/// ```
#[derive(Clone, Debug)]
pub struct WindowsRegistration {
    scheme: String,
    exe: String,
    description: Option<String>,
    hive: Hive,
    policy: SchemePolicy,
}

impl WindowsRegistration {
    /// Starts a registration of `scheme` for the program at `exe`.
    pub fn new(scheme: impl Into<String>, exe: impl Into<String>) -> Self {
        WindowsRegistration {
            scheme: scheme.into(),
            exe: exe.into(),
            description: None,
            hive: Hive::default(),
            policy: SchemePolicy::default(),
        }
    }

    /// The key's description (default `URL:<scheme> Protocol`).
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Registers for the current user only.
    #[must_use]
    pub fn hive(mut self, hive: Hive) -> Self {
        self.hive = hive;
        self
    }

    /// The scheme policy (default: [`SchemePolicy::default`]).
    #[must_use]
    pub fn scheme_policy(mut self, policy: SchemePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Validates the registration.
    ///
    /// # Errors
    ///
    /// A [`LinkError`] for an invalid or refused scheme, a relative
    /// program path, or a character that would break the file or the
    /// command line (`"`, `%`, control characters, `<>|?*`).
    pub fn build(mut self) -> Result<Self, LinkError> {
        let scheme = self.scheme.trim().to_ascii_lowercase();
        let valid = scheme
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid {
            return Err(LinkError::InvalidScheme(self.scheme));
        }
        if !self.policy.allows(&scheme) {
            return Err(LinkError::DisallowedScheme(scheme));
        }
        self.scheme = scheme;

        let exe = self.exe.trim().to_owned();
        for c in exe.chars() {
            if c.is_control() || matches!(c, '"' | '%' | '<' | '>' | '|' | '?' | '*') {
                return Err(LinkError::InvalidCharacter {
                    field: "program path",
                    found: c,
                });
            }
        }
        let b = exe.as_bytes();
        let drive = b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\';
        let unc = exe.starts_with(r"\\") && exe.len() > 2;
        if !(drive || unc) || exe.ends_with('\\') {
            return Err(LinkError::RelativePath);
        }
        self.exe = exe;

        if let Some(c) = self
            .description
            .as_deref()
            .and_then(|d| d.chars().find(|c| c.is_control()))
        {
            return Err(LinkError::InvalidCharacter {
                field: "description",
                found: c,
            });
        }
        Ok(self)
    }

    /// The command line Windows runs: `"<exe>" "%1"`.
    #[must_use]
    pub fn command_line(&self) -> String {
        format!("\"{}\" \"%1\"", self.exe)
    }

    /// The `.reg` file's text (Registry Editor 5.00 format, CRLF line ends).
    /// Save it as UTF-16LE with a byte-order mark (see
    /// [`to_reg_file_bytes`](Self::to_reg_file_bytes)) if the path has
    /// non-ASCII characters.
    #[must_use]
    pub fn to_reg_text(&self) -> String {
        let root = match self.hive {
            Hive::ClassesRoot => format!("HKEY_CLASSES_ROOT\\{}", self.scheme),
            Hive::CurrentUser => format!("HKEY_CURRENT_USER\\Software\\Classes\\{}", self.scheme),
        };
        let description = self
            .description
            .clone()
            .unwrap_or_else(|| format!("URL:{} Protocol", self.scheme));
        let mut t = String::new();
        t.push_str("Windows Registry Editor Version 5.00\r\n\r\n");
        t.push_str(&format!("[{root}]\r\n"));
        t.push_str(&format!("@=\"{}\"\r\n", reg_escape(&description)));
        t.push_str("\"URL Protocol\"=\"\"\r\n\r\n");
        t.push_str(&format!("[{root}\\shell]\r\n\r\n"));
        t.push_str(&format!("[{root}\\shell\\open]\r\n\r\n"));
        t.push_str(&format!("[{root}\\shell\\open\\command]\r\n"));
        t.push_str(&format!("@=\"{}\"\r\n", reg_escape(&self.command_line())));
        t
    }

    /// The `.reg` file as Registry Editor saves it: UTF-16LE with a
    /// byte-order mark.
    #[must_use]
    pub fn to_reg_file_bytes(&self) -> Vec<u8> {
        let text = self.to_reg_text();
        let mut out = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out
    }
}

/// Escapes a `.reg` string value: `\` and `"` get a backslash.
fn reg_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
