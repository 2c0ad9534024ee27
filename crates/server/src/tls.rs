//! HTTPS: a self-signed certificate or PEM files, with ALPN offering `h2`
//! and `http/1.1` (the Python SDK refuses anything but `h2`).

use std::{path::Path, sync::Arc};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
    #[error("cannot read {path}: {message}")]
    Pem { path: String, message: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource<'a> {
    /// Made up at startup for `localhost`, `127.0.0.1` and `::1`.
    SelfSigned,
    Files {
        cert: &'a Path,
        key: &'a Path,
    },
}

pub fn rustls_config(source: TlsSource<'_>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (certs, key) = match source {
        TlsSource::SelfSigned => {
            let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
            let certified = rcgen::generate_simple_self_signed(names)?;
            let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
            (vec![certified.cert.der().clone()], key)
        }
        TlsSource::Files { cert, key } => {
            let pem_error = |path: &Path, e: rustls::pki_types::pem::Error| TlsError::Pem {
                path: path.display().to_string(),
                message: e.to_string(),
            };
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(|e| pem_error(cert, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error(cert, e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
            (certs, key)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
