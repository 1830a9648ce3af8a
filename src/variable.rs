//! The CRM's `{variable}` syntax, read once for call links
//! (`links::format`) and SMS templates (`mailing::template`).

/// What is wrong with a `{variable}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum VariableError {
    /// The `{` has no closing `}`.
    Unterminated,
    /// The name is empty, longer than 32 bytes, or has a character a name
    /// cannot have.
    InvalidName(String),
}

impl VariableError {
    /// The message for a variable whose `{` is at byte `at`.
    pub(crate) fn describe(&self, at: usize) -> String {
        match self {
            VariableError::Unterminated => format!("the `{{` at offset {at} has no closing `}}`"),
            VariableError::InvalidName(n) => format!(
                "invalid variable name `{{{n}}}` at offset {at} (1-32 characters from a-z, 0-9, _ and ?)"
            ),
        }
    }
}

/// Whether `c` may stand in a variable's name.
fn is_variable_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '?')
}

/// Reads the `{name}` whose `{` is at byte `open` of `text`: the name
/// (lowercased unless `case_sensitive`) and the bytes between the braces.
pub(crate) fn read_variable(
    text: &str,
    open: usize,
    case_sensitive: bool,
) -> Result<(String, usize), VariableError> {
    let Some(len) = text[open + 1..].find('}') else {
        return Err(VariableError::Unterminated);
    };
    let name = &text[open + 1..open + 1 + len];
    if name.is_empty() || name.len() > 32 || !name.chars().all(is_variable_char) {
        // An opening brace inside means the first one was never closed.
        if name.contains('{') {
            return Err(VariableError::Unterminated);
        }
        return Err(VariableError::InvalidName(name.to_owned()));
    }
    let name = if case_sensitive {
        name.to_owned()
    } else {
        name.to_ascii_lowercase()
    };
    Ok((name, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lengths_and_errors() {
        assert_eq!(read_variable("a{CuId}b", 1, false), Ok(("cuid".into(), 4)));
        assert_eq!(read_variable("{CuId}", 0, true), Ok(("CuId".into(), 4)));
        assert_eq!(
            read_variable("{x", 0, false),
            Err(VariableError::Unterminated)
        );
        assert_eq!(
            read_variable("{a{b}", 0, false),
            Err(VariableError::Unterminated)
        );
        assert_eq!(
            read_variable("{}", 0, false),
            Err(VariableError::InvalidName(String::new()))
        );
        assert_eq!(
            read_variable("{a-b}", 0, false),
            Err(VariableError::InvalidName("a-b".into()))
        );
        assert!(read_variable(&format!("{{{}}}", "a".repeat(33)), 0, false).is_err());
    }
}
