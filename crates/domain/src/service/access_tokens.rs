//! Access control over the storage port: who a bearer token is, and
//! issuing, listing and revoking tokens.
//!
//! Nothing is cached: every request looks its token up again, so a
//! revocation or an expiry takes effect on the next request.

use thiserror::Error as ThisError;
use tokio::sync::Mutex;

use super::Service;
use crate::{
    access::{check_issue, AccessToken, AccessTokenId, Grant, IssueError, Secret, SecretHash, TokenInfo},
    error::Error,
    page::{Page, PageRequest},
};

/// Access control, present when the server has a root token.
pub(super) struct AccessControl {
    root: SecretHash,
    /// Makes "issue if the id is free" and revoke atomic.
    changes: Mutex<()>,
}

/// Why a bearer token was not accepted (all `401` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum AuthError {
    #[error("missing access token (send Authorization: Bearer <token>)")]
    Missing,
    #[error("access token is not valid")]
    Unknown,
    #[error("access token has expired")]
    Expired,
}

impl Service {
    /// Turns access control on, with `root` as the token that may do
    /// everything and cannot be revoked.
    pub fn with_root_token(mut self, root: &str) -> Self {
        let access = AccessControl { root: SecretHash::of(root), changes: Mutex::new(()) };
        // Other clones keep the access control they had.
        std::sync::Arc::make_mut(&mut self.parts).access = Some(std::sync::Arc::new(access));
        self
    }

    pub fn access_control_enabled(&self) -> bool {
        self.access.is_some()
    }

    /// The authority of a request that presented `bearer`. Without access
    /// control every request has the root's.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Grant, Error> {
        let Some(access) = &self.access else { return Ok(Grant::root()) };
        let bearer = bearer.filter(|b| !b.is_empty()).ok_or(Error::Unauthenticated(AuthError::Missing))?;
        let presented = SecretHash::of(bearer);
        if presented.matches(&access.root) {
            return Ok(Grant::root());
        }
        let token = self.storage.find_access_token(&presented).await?;
        let token =
            token.filter(|t| t.secret_hash.matches(&presented)).ok_or(Error::Unauthenticated(AuthError::Unknown))?;
        let grant = Grant::of(&token.info);
        if grant.expired(self.clock.now_secs()) {
            return Err(Error::Unauthenticated(AuthError::Expired));
        }
        Ok(grant)
    }

    fn access(&self) -> Result<&AccessControl, Error> {
        self.access.as_deref().ok_or(Error::AccessControlOff)
    }

    /// Issues a token within `issuer`'s authority; the secret is returned
    /// here and nowhere else.
    pub async fn issue_access_token(&self, issuer: &Grant, mut info: TokenInfo) -> Result<Secret, Error> {
        let access = self.access()?;
        info.expires_at_secs = check_issue(issuer, &info, self.clock.now_secs()).map_err(|e| match e {
            IssueError::Invalid(m) => Error::Invalid(m.to_owned()),
            IssueError::BeyondIssuer(m) => Error::PermissionDenied(m.to_owned()),
        })?;
        let _changes = access.changes.lock().await;
        if self.storage.get_access_token(&info.id).await?.is_some() {
            return Err(Error::AccessTokenAlreadyExists(info.id));
        }
        let secret = Secret::generate().map_err(|_| Error::Unavailable("the system random number generator failed"))?;
        let token = AccessToken { info, secret_hash: secret.hash() };
        self.storage.put_access_token(&token).await?;
        tracing::info!(
            id = %token.info.id,
            scope = %token.info.scope.summary(),
            expires_at_secs = ?token.info.expires_at_secs,
            auto_prefix_streams = token.info.auto_prefix_streams,
            "issued access token"
        );
        Ok(secret)
    }

    pub async fn list_access_tokens(&self, page: &PageRequest) -> Result<Page<TokenInfo>, Error> {
        self.access()?;
        let page = self.storage.list_access_tokens(page).await?;
        Ok(Page { items: page.items.into_iter().map(|t| t.info).collect(), has_more: page.has_more })
    }

    pub async fn revoke_access_token(&self, id: &AccessTokenId) -> Result<(), Error> {
        let access = self.access()?;
        let _changes = access.changes.lock().await;
        let token = self.storage.get_access_token(id).await?.ok_or_else(|| Error::AccessTokenNotFound(id.clone()))?;
        self.storage.remove_access_token(&token).await?;
        tracing::info!(id = %id, scope = %token.info.scope.summary(), "revoked access token");
        Ok(())
    }
}
