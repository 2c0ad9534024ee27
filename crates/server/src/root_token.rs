//! The root token: what turns access control on. It comes from a file
//! (`--root-token-file`) or the `S2LITE_ROOT_TOKEN` environment variable,
//! never from a flag value (which `ps` would show).

use std::path::{Path, PathBuf};

use thiserror::Error;

/// The environment variable that may hold the root token itself.
pub const ROOT_TOKEN_ENV: &str = "S2LITE_ROOT_TOKEN";

/// Fewest bytes a root token may have (256 bits of hex, or more of base64).
pub const ROOT_TOKEN_BYTES_MIN: usize = 32;

#[derive(Debug, Error)]
pub enum RootTokenError {
    #[error("cannot read root token file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "root token file {0} is readable by every user; restrict it first (chmod 600) so that only the server's user \
         can read the token"
    )]
    WorldReadable(PathBuf),
    #[error("the root token from {0} is {1} bytes; it must be at least {ROOT_TOKEN_BYTES_MIN} (e.g. `openssl rand -hex 32`)")]
    TooShort(String, usize),
    #[error("give the root token either with --root-token-file or in {ROOT_TOKEN_ENV}, not both")]
    Both,
}

/// Where the root token came from, for the startup hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootTokenSource {
    File(PathBuf),
    Env,
}

/// The root token, if one is configured.
pub fn load(
    file: Option<&Path>,
    env_value: Option<String>,
) -> Result<Option<(String, RootTokenSource)>, RootTokenError> {
    let (token, source) = match (file, env_value.filter(|v| !v.is_empty())) {
        (Some(_), Some(_)) => return Err(RootTokenError::Both),
        (None, None) => return Ok(None),
        (None, Some(value)) => (value, RootTokenSource::Env),
        (Some(path), None) => (read_private_file(path)?, RootTokenSource::File(path.to_owned())),
    };
    // A trailing newline from `echo` or an editor is not part of the token.
    let token = token.trim().to_owned();
    if token.len() < ROOT_TOKEN_BYTES_MIN {
        let from = match &source {
            RootTokenSource::File(path) => path.display().to_string(),
            RootTokenSource::Env => ROOT_TOKEN_ENV.to_owned(),
        };
        return Err(RootTokenError::TooShort(from, token.len()));
    }
    Ok(Some((token, source)))
}

fn read_private_file(path: &Path) -> Result<String, RootTokenError> {
    let read_error = |source| RootTokenError::Read { path: path.to_owned(), source };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(read_error)?.permissions().mode();
        if mode & 0o004 != 0 {
            return Err(RootTokenError::WorldReadable(path.to_owned()));
        }
    }
    std::fs::read_to_string(path).map_err(read_error)
}

#[cfg(test)]
mod tests {
    use std::{io::Write, os::unix::fs::PermissionsExt};

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn file_with(mode: u32, contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn a_private_file_gives_the_trimmed_token() {
        let file = file_with(0o600, &format!("{TOKEN}\n"));
        let (token, source) = load(Some(file.path()), None).unwrap().unwrap();
        assert_eq!(token, TOKEN);
        assert_eq!(source, RootTokenSource::File(file.path().to_owned()));
    }

    #[test]
    fn refuses_world_readable_files_short_tokens_and_two_sources() {
        let file = file_with(0o644, TOKEN);
        assert!(matches!(load(Some(file.path()), None), Err(RootTokenError::WorldReadable(_))));
        let file = file_with(0o600, "short");
        assert!(matches!(load(Some(file.path()), None), Err(RootTokenError::TooShort(_, 5))));
        assert!(matches!(load(None, Some("x".repeat(31))), Err(RootTokenError::TooShort(_, 31))));
        assert!(matches!(load(Some(file.path()), Some(TOKEN.into())), Err(RootTokenError::Both)));
    }

    #[test]
    fn no_source_means_no_access_control() {
        assert!(load(None, None).unwrap().is_none());
        assert!(load(None, Some(String::new())).unwrap().is_none());
        assert_eq!(load(None, Some(TOKEN.into())).unwrap().map(|(_, s)| s), Some(RootTokenSource::Env));
    }
}
