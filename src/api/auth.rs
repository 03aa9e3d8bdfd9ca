//! Optional API tokens: when a token file is configured, API calls need
//! `Authorization: Bearer <token>`. Tokens are kept as SHA-256 digests and
//! compared in constant time, so neither the token nor its length leaks
//! through timing.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the API token file: {0}")]
    Read(std::io::Error),
    #[error("the API token file has no tokens (one per line; '#' starts a comment)")]
    Empty,
    #[error("API token on line {0} is shorter than 16 characters")]
    TooShort(usize),
}

#[derive(Clone)]
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl Tokens {
    /// One token per line; blank lines and `#` comments are skipped.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let text = std::fs::read_to_string(path).map_err(TokenError::Read)?;
        Tokens::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Tokens, TokenError> {
        let mut digests = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if token.len() < 16 {
                return Err(TokenError::TooShort(i + 1));
            }
            digests.push(Sha256::digest(token.as_bytes()).into());
        }
        if digests.is_empty() {
            return Err(TokenError::Empty);
        }
        Ok(Tokens { digests })
    }

    /// Compares against every token without stopping early.
    pub fn accepts(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digests.iter().fold(false, |found, known| {
            found | constant_time_eq(known, &digest)
        })
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Middleware for the routes that need a token when tokens are configured.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(tokens) = &state.tokens else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if tokens.accepts(token) => next.run(request).await,
        Some(_) => {
            state.metrics.refused("bad_token");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the API token is not valid",
            )
            .into_response()
        }
        None => {
            state.metrics.refused("no_token");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs an API token: send Authorization: Bearer <token>",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_listed_tokens_only() {
        let tokens = Tokens::parse("# ops\n0123456789abcdef\n\n  fedcba9876543210zz  \n").unwrap();
        assert!(tokens.accepts("0123456789abcdef"));
        assert!(tokens.accepts("fedcba9876543210zz"));
        assert!(!tokens.accepts("0123456789abcde"));
        assert!(!tokens.accepts("0123456789abcdef0"));
        assert!(!tokens.accepts(""));
    }

    #[test]
    fn empty_and_short_token_files_are_errors() {
        assert!(matches!(
            Tokens::parse("# none\n\n"),
            Err(TokenError::Empty)
        ));
        assert!(matches!(
            Tokens::parse("long-enough-token-1\nshort\n"),
            Err(TokenError::TooShort(2))
        ));
    }
}
