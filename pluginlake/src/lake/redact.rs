//! Secrets out of text: passwords in connection strings, URLs and messages that quote them.
//!
//! Applied wherever a connection string can be printed: [`Catalog::describe`], the `Debug` and
//! `Serialize` forms of the configuration, and DuckDB's error messages (DuckDB's PostgreSQL
//! extension quotes the whole connection string when it cannot connect).
//!
//! [`Catalog::describe`]: crate::lake::config::Catalog::describe

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "***";

/// `text` with every password replaced by [`REDACTED`]:
///
/// - values of `key=value` pairs whose key ends in `password` (any case: `password`,
///   `sslpassword`, `PGPASSWORD`), spaces around `=` allowed, the value bare, single-quoted with
///   backslash escapes (libpq's syntax), or quoted with doubled quotes (a libpq string inside a
///   SQL literal);
/// - the password of a URL's user information (`postgres://user:password@host/db`).
pub(crate) fn redact(text: &str) -> String {
    redact_pairs(&redact_urls(text))
}

/// `user:password@` after `scheme://` becomes `user:***@`.
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment, or anything that ends a token.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &authority[..userinfo_end];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(REDACTED);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The values of `...password = value` pairs become [`REDACTED`].
fn redact_pairs(text: &str) -> String {
    const KEY: &str = "password";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let key_end = from + found + KEY.len();
        from = key_end;
        let after_key = &text[key_end..];
        let spaces = after_key.len() - after_key.trim_start().len();
        let Some(value) = after_key[spaces..].strip_prefix('=') else {
            continue;
        };
        let value_start = key_end + spaces + 1 + (value.len() - value.trim_start().len());
        let value_len = value_length(&text[value_start..]);
        out.push_str(&text[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_start + value_len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// The length of the value at the start of `s`: quoted (`'...'` with backslash escapes, or
/// `''...''` inside a SQL literal), or bare up to whitespace or a character that ends it in a
/// URL query, a SQL literal or a message.
fn value_length(s: &str) -> usize {
    if let Some(inner) = s.strip_prefix("''") {
        // Doubled quotes: a libpq quoted value inside a SQL string literal.
        return inner.find("''").map_or(s.len(), |end| end + 4);
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => return i + 2,
                _ => {}
            }
        }
        return s.len();
    }
    s.find(|c: char| c.is_whitespace() || matches!(c, '&' | '\'' | '"' | ';' | ')' | ','))
        .unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_hidden(text: &str, secret: &str, kept: &[&str]) {
        let shown = redact(text);
        assert!(!shown.contains(secret), "{text:?} shown as {shown:?}");
        assert!(shown.contains(REDACTED), "{shown:?}");
        for k in kept {
            assert!(shown.contains(k), "{shown:?} lost {k:?}");
        }
    }

    #[test]
    fn a_bare_password_is_hidden() {
        assert_hidden(
            "host=h password=s3cret dbname=d",
            "s3cret",
            &["host=h", "dbname=d"],
        );
    }

    #[test]
    fn a_password_with_spaces_around_the_equals_sign_is_hidden() {
        assert_hidden(
            "host=h password = s3cret dbname=d",
            "s3cret",
            &["host=h", "dbname=d"],
        );
    }

    #[test]
    fn a_quoted_password_with_spaces_and_escapes_is_hidden() {
        assert_hidden(
            r"host=h password='a b\' s3cret' dbname=d",
            "s3cret",
            &["host=h", "dbname=d"],
        );
        assert_hidden("password='a b'", "a b", &[]);
    }

    #[test]
    fn a_quoted_password_inside_a_sql_literal_is_hidden() {
        assert_hidden(
            "ATTACH 'ducklake:postgres:host=h password=''a s3cret'' dbname=d' AS lake",
            "s3cret",
            &["host=h", "dbname=d", "AS lake"],
        );
    }

    #[test]
    fn the_password_of_a_url_is_hidden() {
        assert_hidden(
            "postgres://user:s3cret@host:5432/db?sslmode=disable",
            "s3cret",
            &["user:", "@host:5432/db?sslmode=disable"],
        );
        assert_hidden("postgresql://u:p%40s3cret@h/d", "s3cret", &["@h/d"]);
    }

    #[test]
    fn a_password_in_a_url_query_is_hidden() {
        assert_hidden(
            "postgres://h/db?user=u&password=s3cret&sslmode=require",
            "s3cret",
            &["user=u", "&sslmode=require"],
        );
    }

    #[test]
    fn other_password_keys_are_hidden_in_any_case() {
        assert_hidden("sslpassword=s3cret host=h", "s3cret", &["host=h"]);
        assert_hidden("PGPASSWORD=s3cret", "s3cret", &[]);
    }

    #[test]
    fn text_without_passwords_is_unchanged() {
        for text in [
            "host=h user=u dbname=d",
            "postgres://user@host/db",
            "sqlite:///tmp/runs.sqlite",
            "the password is wrong",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
