//! HTTPS with a self-signed certificate, through the SDK (which speaks
//! HTTP/2 over TLS, so this also checks ALPN).

use std::sync::Arc;

use lite_api::RouterOptions;
use lite_server::{
    tls::{rustls_config, TlsSource},
    Server,
};
use lite_storage::MemoryStorage;
use s2_sdk::{
    error::RequestError,
    types::{CreateBasinInput, ListBasinsInput, S2Endpoints},
    S2,
};

#[tokio::test]
async fn sdk_works_over_https_with_a_self_signed_certificate() {
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), Arc::new(MemoryStorage::new()), RouterOptions { cors: false })
            .await
            .unwrap()
            .with_tls(rustls_config(TlsSource::SelfSigned).unwrap());
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let endpoint = format!("https://localhost:{}", addr.port());
    let config = crate::common::sdk_config(addr)
        .with_endpoints(S2Endpoints::for_endpoint(&endpoint).unwrap())
        .with_insecure_skip_cert_verification(true);
    let s2 = S2::new(config).unwrap();
    s2.create_basin(CreateBasinInput::new("secure-basin".parse().unwrap())).await.unwrap();
    let basins = s2.list_basins(ListBasinsInput::new()).await.unwrap();
    assert_eq!(basins.values.len(), 1);

    // Without skipping verification, the self-signed certificate is refused.
    let strict =
        S2::new(crate::common::sdk_config(addr).with_endpoints(S2Endpoints::for_endpoint(&endpoint).unwrap())).unwrap();
    let refused = strict.list_basins(ListBasinsInput::new()).await.unwrap_err();
    assert!(matches!(refused, RequestError::Client(_)), "{refused:?}");
    // The SDK does not say why; a TLS client that trusts no one does: the
    // handshake fails on the certificate (its issuer is unknown), not on
    // anything else on the way.
    let handshake = tokio::task::spawn_blocking(move || {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        tls.complete_io(&mut socket).map(|_| ())
    })
    .await
    .unwrap();
    let error = handshake.expect_err("an untrusted certificate was accepted");
    let cause = error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    assert_eq!(cause, Some(&rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)), "{error:?}");
    drop(stop);
}
