//! The HS256 signing secret and its file.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use rand::TryRngCore;
use rand::rngs::OsRng;

use super::AuthError;

/// The shortest secret accepted, in bytes (the HS256 output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// A secret file longer than this is certainly not ours.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// Refuses secrets that are short or trivially guessable (all bytes equal).
pub(crate) fn check_strength(secret: &[u8]) -> Result<(), AuthError> {
    if secret.len() < MIN_SECRET_BYTES || secret.iter().all(|b| *b == secret[0]) {
        return Err(AuthError::WeakSecret);
    }
    Ok(())
}

/// Reads the hex-encoded secret at `path`, or creates it (32 bytes from the
/// operating system's generator, hex, mode 0600, parent directories 0700)
/// when the file does not exist.
pub(crate) fn load_or_create(path: &Path) -> Result<Vec<u8>, AuthError> {
    match read(path) {
        Err(AuthError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    match create(path) {
        Ok(secret) => Ok(secret),
        // Another process created it between our read and our create.
        Err(AuthError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AuthError> {
    let file = fs::File::open(path).map_err(|e| with_path(e, path))?;
    let meta = file.metadata().map_err(|e| with_path(e, path))?;
    if !meta.is_file() {
        return Err(AuthError::SecretFormat(path.display().to_string()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(AuthError::InsecureSecretFile(path.display().to_string()));
        }
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(AuthError::SecretFormat(path.display().to_string()));
    }
    let mut text = String::new();
    file.take(MAX_SECRET_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|_| AuthError::SecretFormat(path.display().to_string()))?;
    let secret = hex::decode(text.trim())
        .map_err(|_| AuthError::SecretFormat(path.display().to_string()))?;
    check_strength(&secret)?;
    Ok(secret)
}

fn create(path: &Path) -> Result<Vec<u8>, AuthError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent).map_err(|e| with_path(e, parent))?;
    }

    let mut secret = vec![0u8; MIN_SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut secret)
        .map_err(|e| io::Error::other(format!("the system random generator failed: {e}")))?;

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| with_path(e, path))?;
    let written = file
        .write_all(format!("{}\n", hex::encode(&secret)).as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(with_path(e, path));
    }
    #[cfg(unix)]
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Make the new directory entry durable; best effort.
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(secret)
}

/// Keeps the error kind, adds the path to the message.
fn with_path(e: io::Error, path: &Path) -> AuthError {
    AuthError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
