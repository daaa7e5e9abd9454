//! Key material: the master key that encrypts tenants' secret keys at rest,
//! tenants' Ed25519 key pairs, and pack signatures by trusted publishers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::Path;

/// A key error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file cannot be read or written.
    #[error("cannot access key file `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key is malformed.
    #[error("invalid key `{what}`: {message}")]
    Invalid {
        /// Which key.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// Decryption failed: wrong master key or tampered ciphertext.
    #[error("cannot decrypt the secret key of tenant `{0}`: wrong master key or corrupted data")]
    Decrypt(String),
    /// Randomness unavailable.
    #[error("no randomness available: {0}")]
    Random(String),
}

fn invalid(what: &str, e: impl std::fmt::Display) -> KeyError {
    KeyError::Invalid {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

/// The key that encrypts tenants' secret keys (ChaCha20-Poly1305).
#[derive(Clone)]
pub struct MasterKey(Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses 32 bytes written as 64 hex digits or base64.
    pub fn parse(text: &str) -> Result<MasterKey, KeyError> {
        let t = text.trim();
        let bytes = hex::decode(t)
            .ok()
            .or_else(|| B64.decode(t).ok())
            .ok_or_else(|| invalid("master key", "expected 32 bytes as hex or base64"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("master key", "expected exactly 32 bytes"))?;
        Ok(MasterKey(arr.into()))
    }

    /// Reads the key from `path`, creating it (mode 0600) when absent.
    /// Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((MasterKey::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = random()?;
                write_private(path, &hex::encode(key)).map_err(io)?;
                Ok((MasterKey(key.into()), true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts `plain` bound to `context` (the tenant id): nonce || ciphertext.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let nonce: [u8; 12] = random()?;
        let cipher = ChaCha20Poly1305::new(&self.0);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| invalid("master key", "encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < 12 {
            return Err(KeyError::Decrypt(context.to_owned()));
        }
        let (nonce, body) = sealed.split_at(12);
        ChaCha20Poly1305::new(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Decrypt(context.to_owned()))
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(contents.as_bytes())
}

/// A fresh Ed25519 key pair.
pub fn generate_signing_key() -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&random()?))
}

/// A signing key as PKCS#8 PEM.
pub fn signing_key_pem(key: &SigningKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|p| p.to_string())
        .map_err(|e| invalid("ed25519 private key", e))
}

/// A verifying key as SPKI PEM.
pub fn verifying_key_pem(key: &VerifyingKey) -> Result<String, KeyError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| invalid("ed25519 public key", e))
}

/// Reads a PKCS#8 PEM Ed25519 private key.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| invalid(&path.display().to_string(), e))
}

/// Parses an SPKI PEM Ed25519 public key.
pub fn parse_verifying_key(what: &str, pem: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| invalid(what, e))
}

/// A tenant's stored 32-byte Ed25519 public key.
pub fn tenant_verifying_key(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    warden_store::verifying_key(bytes).map_err(|e| invalid("tenant public key", e))
}

/// The tenant's signing key, opened with the master key.
pub fn tenant_signing_key(
    master: &MasterKey,
    tenant: &str,
    sealed: &[u8],
) -> Result<SigningKey, KeyError> {
    let secret = master.open(tenant, sealed)?;
    let arr: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| invalid("tenant secret key", "not 32 bytes"))?;
    Ok(SigningKey::from_bytes(&arr))
}

/// The bytes a pack signature covers: a domain tag and the pack's digest.
/// The digest fixes the bytes, and so the name and version inside them;
/// the server checks it before compiling anything (docs/adr/0015).
pub fn pack_signing_message(digest: &str) -> Vec<u8> {
    format!("warden-pack-signature-v2\n{digest}\n").into_bytes()
}

/// What a version 1 signature covers: a domain tag, name@version and
/// digest. Still accepted where signatures are optional; it can only be
/// checked after compiling (the name and version come from the pack).
pub fn pack_signing_message_v1(name: &str, version: &str, digest: &str) -> Vec<u8> {
    format!("warden-pack-signature-v1\n{name}@{version}\n{digest}\n").into_bytes()
}

/// Signs a pack by its digest; the signature as base64.
pub fn sign_pack(key: &SigningKey, digest: &str) -> String {
    B64.encode(key.sign(&pack_signing_message(digest)).to_bytes())
}

/// A version 1 signature (see [`pack_signing_message_v1`]), as base64.
pub fn sign_pack_v1(key: &SigningKey, name: &str, version: &str, digest: &str) -> String {
    B64.encode(
        key.sign(&pack_signing_message_v1(name, version, digest))
            .to_bytes(),
    )
}

/// A trusted pack publisher.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Name shown in the catalog.
    pub name: String,
    /// The publisher's public key.
    pub key: VerifyingKey,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Not base64 of 64 bytes.
    #[error("signature is not base64 of a 64-byte Ed25519 signature")]
    Malformed,
    /// No trusted publisher's key verifies it.
    #[error("signature over `{0}` does not verify with any trusted publisher key")]
    Untrusted(String),
}

fn decode_signature(signature: &str) -> Result<Signature, SignatureError> {
    let bytes = B64
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed)?;
    Signature::from_slice(&bytes).map_err(|_| SignatureError::Malformed)
}

fn publisher_of(publishers: &[Publisher], msg: &[u8], sig: &Signature) -> Option<String> {
    publishers
        .iter()
        .find(|p| p.key.verify(msg, sig).is_ok())
        .map(|p| p.name.clone())
}

/// Verifies a base64 signature over a pack's digest against trusted
/// publishers, before the pack is compiled; the matching publisher's name.
pub fn verify_pack(
    publishers: &[Publisher],
    signature: &str,
    digest: &str,
) -> Result<String, SignatureError> {
    let sig = decode_signature(signature)?;
    publisher_of(publishers, &pack_signing_message(digest), &sig)
        .ok_or_else(|| SignatureError::Untrusted(digest.to_owned()))
}

/// Verifies a version 1 signature (over name@version and digest).
pub fn verify_pack_v1(
    publishers: &[Publisher],
    signature: &str,
    name: &str,
    version: &str,
    digest: &str,
) -> Result<String, SignatureError> {
    let sig = decode_signature(signature)?;
    publisher_of(
        publishers,
        &pack_signing_message_v1(name, version, digest),
        &sig,
    )
    .ok_or_else(|| SignatureError::Untrusted(format!("{name}@{version}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_need_the_right_key_and_tenant() {
        let key = MasterKey::parse(&"11".repeat(32)).unwrap();
        let other = MasterKey::parse(&"22".repeat(32)).unwrap();
        let sealed = key.seal("acme", b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open("acme", &sealed).unwrap(), b"secret");
        assert!(matches!(
            other.open("acme", &sealed),
            Err(KeyError::Decrypt(_))
        ));
        assert!(matches!(
            key.open("beta", &sealed),
            Err(KeyError::Decrypt(_))
        ));
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(key.open("acme", &flipped).is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::parse("abcd").is_err());
        assert!(MasterKey::parse(&"zz".repeat(32)).is_err());
        assert!(MasterKey::parse(&B64.encode([7u8; 32])).is_ok());
    }

    #[test]
    fn pack_signatures_bind_the_digest() {
        let k = generate_signing_key().unwrap();
        let pem = verifying_key_pem(&k.verifying_key()).unwrap();
        let publishers = vec![Publisher {
            name: "acme-sec".into(),
            key: parse_verifying_key("test", &pem).unwrap(),
        }];
        let sig = sign_pack(&k, "sha256:aa");
        assert_eq!(
            verify_pack(&publishers, &sig, "sha256:aa").unwrap(),
            "acme-sec"
        );
        assert!(matches!(
            verify_pack(&publishers, &sig, "sha256:ab"),
            Err(SignatureError::Untrusted(_))
        ));
        // A version 1 signature is not a version 2 one, nor the reverse.
        let v1 = sign_pack_v1(&k, "treasury", "1.0.0", "sha256:aa");
        assert!(verify_pack(&publishers, &v1, "sha256:aa").is_err());
        assert!(verify_pack_v1(&publishers, &sig, "treasury", "1.0.0", "sha256:aa").is_err());
        assert_eq!(
            verify_pack(&publishers, "not base64!", "sha256:aa"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn version_1_signatures_bind_name_version_and_digest() {
        let k = generate_signing_key().unwrap();
        let pem = verifying_key_pem(&k.verifying_key()).unwrap();
        let publishers = vec![Publisher {
            name: "acme-sec".into(),
            key: parse_verifying_key("test", &pem).unwrap(),
        }];
        let sig = sign_pack_v1(&k, "treasury", "1.0.0", "sha256:aa");
        assert_eq!(
            verify_pack_v1(&publishers, &sig, "treasury", "1.0.0", "sha256:aa").unwrap(),
            "acme-sec"
        );
        for (n, v, d) in [
            ("treasury", "1.0.1", "sha256:aa"),
            ("other", "1.0.0", "sha256:aa"),
            ("treasury", "1.0.0", "sha256:ab"),
        ] {
            assert!(matches!(
                verify_pack_v1(&publishers, &sig, n, v, d),
                Err(SignatureError::Untrusted(_))
            ));
        }
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let k = generate_signing_key().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "warden-keys-{}",
            hex::encode(random::<8>().unwrap())
        ));
        let path = dir.join("k.pem");
        write_private(&path, &signing_key_pem(&k).unwrap()).unwrap();
        assert_eq!(read_signing_key(&path).unwrap().to_bytes(), k.to_bytes());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
