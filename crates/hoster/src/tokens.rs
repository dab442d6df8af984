//! API tokens: minted from 256 random bits, stored only as a SHA-256 hash, revocable. Shared by
//! the `hoster token` commands (offline, on the database) and the tokens API.

use hoster_core::access::{Role, token};
use hoster_core::id::TokenId;
use hoster_core::problem::{Problem, Problems};

use crate::clock;
use crate::store::{Store, StoreError, TokenRecord};

/// What is stored for a token. Tokens are random and long, so a plain hash cannot be reversed
/// or brute-forced; a slow password hash would only slow every request down.
pub fn hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}", .0.summary())]
    Invalid(Problems),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Mints a token for `subject` in `role`, records who did it, and returns the record with the
/// token itself, which is never stored and cannot be shown again.
pub async fn create(
    store: &Store,
    role: Role,
    subject: &str,
    name: &str,
    actor: &str,
) -> Result<(TokenRecord, String), TokenError> {
    let mut problems = Vec::new();
    hoster_core::access::Subject::check(&mut problems, "subject", subject);
    if name.chars().count() > 100 {
        problems.push(Problem::field("name", "must be at most 100 characters"));
    }
    if !problems.is_empty() {
        return Err(TokenError::Invalid(Problems(problems)));
    }
    let secret = token::format(rand::random());
    let record = TokenRecord {
        id: TokenId::from_random(rand::random()),
        role,
        subject: subject.to_string(),
        name: name.to_string(),
        created_at: clock::now(),
        revoked_at: None,
    };
    store.insert_token(&record, &hash(&secret)).await?;
    store
        .audit(
            &record.created_at,
            actor,
            "token.create",
            record.id.as_str(),
            &format!("{role} {subject}"),
        )
        .await?;
    Ok((record, secret))
}

/// Revokes a token. `Ok(false)`: no live token has that id.
pub async fn revoke(store: &Store, id: &TokenId, actor: &str) -> Result<bool, StoreError> {
    let now = clock::now();
    let revoked = store.revoke_token(id, &now).await?;
    if revoked {
        store.audit(&now, actor, "token.revoke", id.as_str(), "").await?;
    }
    Ok(revoked)
}
