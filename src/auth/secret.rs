//! The HS256 signing secrets and their files: the current secret in the
//! secret file (one hex line, as before key ids existed), and the keys it
//! replaced in `{secret file}.retired`, one `<hex secret> <retired at, unix
//! seconds>` line each, kept for the configured overlap (SPEC §5.11).

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
    let text = read_text(path)?;
    let secret = hex::decode(text.trim())
        .map_err(|_| AuthError::SecretFormat(path.display().to_string()))?;
    check_strength(&secret)?;
    Ok(secret)
}

/// The text of a key file, refused when others can read it or when it is not
/// a small regular file.
fn read_text(path: &Path) -> Result<String, AuthError> {
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
    Ok(text)
}

/// A key the current one replaced, with when it was replaced.
pub(crate) struct Retired {
    pub secret: Vec<u8>,
    /// Seconds since the Unix epoch.
    pub retired_at: u64,
}

/// `{path}.retired`: where the replaced keys are kept.
pub(crate) fn retired_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".retired");
    std::path::PathBuf::from(name)
}

/// The retired keys of the secret at `path`; none when the file is missing.
/// The same checks as the secret file: mode 0600, hex, strong secrets.
pub(crate) fn read_retired(path: &Path) -> Result<Vec<Retired>, AuthError> {
    let path = retired_path(path);
    let text = match read_text(&path) {
        Ok(text) => text,
        Err(AuthError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let bad = || AuthError::SecretFormat(path.display().to_string());
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let (Some(secret), Some(at), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        let secret = hex::decode(secret).map_err(|_| bad())?;
        check_strength(&secret)?;
        let retired_at = at.parse().map_err(|_| bad())?;
        keys.push(Retired { secret, retired_at });
    }
    Ok(keys)
}

/// Replaces the secret at `path` with a new random one: the old secret joins
/// the retired keys (stamped `now_secs`), and retired keys older than
/// `overlap_secs` are dropped. Each file is replaced whole (written beside,
/// synced, renamed), the retired file first, so a crash at any point leaves
/// every key that signed a still-accepted token in one of the two files.
/// Returns the new secret.
pub(crate) fn rotate(path: &Path, now_secs: u64, overlap_secs: u64) -> Result<Vec<u8>, AuthError> {
    let old = read(path)?;
    let mut retired = read_retired(path)?;
    retired.retain(|r| r.retired_at.saturating_add(overlap_secs) > now_secs);
    retired.push(Retired {
        secret: old,
        retired_at: now_secs,
    });
    let text: String = retired
        .iter()
        .map(|r| format!("{} {}\n", hex::encode(&r.secret), r.retired_at))
        .collect();
    replace(&retired_path(path), text.as_bytes())?;
    let secret = random_secret()?;
    replace(path, format!("{}\n", hex::encode(&secret)).as_bytes())?;
    Ok(secret)
}

fn random_secret() -> Result<Vec<u8>, AuthError> {
    let mut secret = vec![0u8; MIN_SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut secret)
        .map_err(|e| io::Error::other(format!("the system random generator failed: {e}")))?;
    Ok(secret)
}

/// Writes `bytes` to `path` through a temporary file beside it (mode 0600),
/// synced, then renamed over `path`.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    let temp = std::path::PathBuf::from(name);
    let _ = fs::remove_file(&temp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp).map_err(|e| with_path(e, &temp))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(with_path(e, path));
    }
    sync_parent(path);
    Ok(())
}

/// Makes a new directory entry durable; best effort.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
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

    let secret = random_secret()?;

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
    sync_parent(path);
    Ok(secret)
}

/// Keeps the error kind, adds the path to the message.
fn with_path(e: io::Error, path: &Path) -> AuthError {
    AuthError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
