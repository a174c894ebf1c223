//! TLS with rustls (SPEC §5.1): loading the operator's certificate, and the
//! development certificate `circlekeeper certs --dev` makes (never committed:
//! `certs/` ignores every key and certificate).

use std::path::{Path, PathBuf};

use axum_server::tls_rustls::RustlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files of a development certificate.
pub struct DevCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A self-signed certificate for localhost, 127.0.0.1 and ::1, written to
/// `dir` (the key with mode 0600). Browsers will warn: it is for development.
pub fn generate_dev_certificate(dir: &Path) -> Result<DevCertificate, TlsError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let cert_file = dir.join("dev-cert.pem");
    let key_file = dir.join("dev-key.pem");
    std::fs::write(&cert_file, certified.cert.pem()).map_err(io(&cert_file))?;
    write_private(&key_file, certified.signing_key.serialize_pem().as_bytes())
        .map_err(io(&key_file))?;
    Ok(DevCertificate {
        cert_file,
        key_file,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// The server's rustls configuration from PEM files.
pub async fn server_config(cert_file: &Path, key_file: &Path) -> Result<RustlsConfig, TlsError> {
    RustlsConfig::from_pem_file(cert_file, key_file)
        .await
        .map_err(|source| TlsError::Io {
            path: cert_file.to_path_buf(),
            source,
        })
}
