//! DuckLake identifiers: the names of schemas and tables, hence the parts of asset keys.

use std::fmt;

/// Longest identifier accepted (PostgreSQL's limit, so every catalog backend can hold it).
pub const MAX_IDENT_LEN: usize = 63;

/// Why a name is not a valid identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_IDENT_LEN`] bytes.
    TooLong,
    /// The name starts with a digit.
    StartsWithDigit,
    /// The name contains a character other than ASCII letters, digits and `_`.
    Character(char),
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::Empty => f.write_str("it is empty"),
            IdentError::TooLong => write!(f, "it is longer than {MAX_IDENT_LEN} characters"),
            IdentError::StartsWithDigit => f.write_str("it starts with a digit"),
            IdentError::Character(c) => {
                write!(f, "it contains {c:?}; use ASCII letters, digits and '_'")
            }
        }
    }
}

impl std::error::Error for IdentError {}

/// Check that `name` can name a DuckLake schema or table: ASCII letters, digits and `_`, not
/// starting with a digit, at most [`MAX_IDENT_LEN`] bytes. Such names are safe as directory names
/// under the data path and need no case folding in any catalog backend.
///
/// ```
/// use pluginlake_core::{validate_ident, IdentError};
///
/// assert!(validate_ident("condition_era_2").is_ok());
/// assert_eq!(validate_ident("2024_data"), Err(IdentError::StartsWithDigit));
/// assert_eq!(validate_ident("a.b"), Err(IdentError::Character('.')));
/// ```
pub fn validate_ident(name: &str) -> Result<(), IdentError> {
    if name.is_empty() {
        return Err(IdentError::Empty);
    }
    if name.len() > MAX_IDENT_LEN {
        return Err(IdentError::TooLong);
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(IdentError::StartsWithDigit);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        Some(c) => Err(IdentError::Character(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_dots_separators_and_spaces_are_rejected() {
        for bad in ["a\"b", "a.b", "a/b", "..", "a b", "a;drop", "é"] {
            assert!(
                matches!(validate_ident(bad), Err(IdentError::Character(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_length_limit_is_postgres_limit() {
        assert_eq!(validate_ident(&"a".repeat(MAX_IDENT_LEN)), Ok(()));
        assert_eq!(
            validate_ident(&"a".repeat(MAX_IDENT_LEN + 1)),
            Err(IdentError::TooLong)
        );
    }

    #[test]
    fn empty_and_leading_digit_are_rejected() {
        assert_eq!(validate_ident(""), Err(IdentError::Empty));
        assert_eq!(validate_ident("1abc"), Err(IdentError::StartsWithDigit));
    }
}
