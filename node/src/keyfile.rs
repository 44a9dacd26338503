//! Node and creator keys on disk: ed25519 secret keys as PKCS#8 PEM files, mode 0600.
//!
//! PKCS#8 is what OpenSSL and most tools read (`openssl pkey -in KEY -pubout`), so a key
//! can be inspected or backed up without ilpt. The same key is a node's libp2p identity
//! and its payer/payee key.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;

/// Generates a new key from the operating system's random source.
pub fn generate() -> Result<SigningKey> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::getrandom(seed.as_mut())
        .map_err(|e| anyhow::anyhow!("the operating system gave no random bytes: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `key` to a new file at `path` with mode 0600; refuses to overwrite.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<()> {
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a key written by [`write_new`] (any PKCS#8 PEM ed25519 key).
pub fn read(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an ed25519 private key in PKCS#8 PEM form (make one with `ilpt key generate`)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_with_private_mode_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let key = generate().unwrap();
        write_new(&path, &key).unwrap();
        assert_eq!(read(&path).unwrap().to_bytes(), key.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_new(&path, &generate().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert_eq!(read(&path).unwrap().to_bytes(), key.to_bytes());
        std::fs::write(dir.path().join("bad"), "nope").unwrap();
        assert!(read(&dir.path().join("bad")).is_err());
    }
}
