//! Access control: tokens, their scopes and secrets, and the one rule that
//! decides whether a request may do what it asks ([`Scope::allows`]).

mod ops;
mod scope;
mod secret;
mod token;

pub use ops::{Access, Level, OpGroups, Operation, ReadWrite};
pub use scope::{ListWindow, Resource, ResourceSet, Scope};
pub use secret::{RandomError, Secret, SecretHash};
pub use token::{check_issue, AccessToken, AccessTokenId, Grant, IssueError, TokenInfo, ACCESS_TOKEN_ID_BYTES_MAX};
