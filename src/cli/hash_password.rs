//! `complaintd hash-password`: reads a password from stdin (its first line)
//! and prints its Argon2id PHC string (`$argon2id$v=19$m=…`) for a board
//! user's entry in the config. The password itself is never printed.

use std::io::BufRead;

use argon2::Argon2;
use argon2::password_hash::PasswordHasher as _;

/// Longer input is refused: nobody types it, and Argon2 would hash it all.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Why no hash was printed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("reading the password from stdin: {0}")]
    Read(#[from] std::io::Error),
    #[error("no password on stdin (an empty line)")]
    Empty,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Reads the first line of `input` (without its line end) and hashes it.
pub fn run(mut input: impl BufRead) -> Result<String, HashError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(HashError::Empty);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(HashError::TooLong);
    }
    hash(password)
}

/// The Argon2id PHC string of `password`, with a fresh random salt and the
/// crate's default cost (19 MiB, 2 passes: OWASP's recommendation).
pub fn hash(password: &str) -> Result<String, HashError> {
    let hashed = Argon2::default().hash_password(password.as_bytes()).map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(hashed.to_string())
}

/// Whether `password` matches the PHC string `phc`; a malformed string matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    crate::board::session::verify(password, phc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_hashed_salted_and_verifies() {
        let phc = run("s3cret 密码\r\nignored\n".as_bytes()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains("s3cret"));
        assert!(verify("s3cret 密码", &phc));
        assert!(!verify("s3cret", &phc));
        assert!(!verify("s3cret 密码", "not a hash"));
        // A fresh salt each time.
        assert_ne!(run("s3cret 密码\n".as_bytes()).unwrap(), phc);
    }

    #[test]
    fn empty_or_oversized_input_is_refused() {
        assert!(matches!(run("".as_bytes()), Err(HashError::Empty)));
        assert!(matches!(run("\n".as_bytes()), Err(HashError::Empty)));
        assert!(matches!(run("x".repeat(2000).as_bytes()), Err(HashError::TooLong)));
    }
}
