//! Keys for tests: a token issuer and a trusted pack publisher, with their
//! public keys written as PEM files where `warden serve` reads them.

use std::path::PathBuf;
use std::time::Duration;
use warden_server::auth::{Role, TokenSigner};
use warden_server::keys;

/// A fresh issuer and publisher, their PEM files in a directory that lives
/// as long as this value.
pub struct TestKeys {
    _dir: tempfile::TempDir,
    /// Signs the tokens tests send.
    pub issuer: ed25519_dalek::SigningKey,
    /// Signs packs as a trusted publisher.
    pub publisher: ed25519_dalek::SigningKey,
    /// The issuer's public key (`--jwt-public-key`).
    pub issuer_pub: PathBuf,
    /// The publisher's public key (`--trusted-publisher`).
    pub publisher_pub: PathBuf,
    /// The issuer as a token signer.
    pub signer: TokenSigner,
}

impl TestKeys {
    /// New keys and their files.
    pub fn new() -> TestKeys {
        let dir = tempfile::tempdir().unwrap();
        let issuer = keys::generate_signing_key().unwrap();
        let publisher = keys::generate_signing_key().unwrap();
        let issuer_pub = dir.path().join("issuer.pub");
        let publisher_pub = dir.path().join("publisher.pub");
        for (path, key) in [(&issuer_pub, &issuer), (&publisher_pub, &publisher)] {
            std::fs::write(path, keys::verifying_key_pem(&key.verifying_key()).unwrap()).unwrap();
        }
        TestKeys {
            signer: TokenSigner::from_pem(&keys::signing_key_pem(&issuer).unwrap()).unwrap(),
            _dir: dir,
            issuer,
            publisher,
            issuer_pub,
            publisher_pub,
        }
    }

    /// A token for `tenant` (`*` for the fleet) with `roles`, valid ten minutes.
    pub fn token(&self, tenant: &str, roles: &[Role]) -> String {
        self.signer
            .issue("test", tenant, roles, Duration::from_secs(600))
            .unwrap()
    }

    /// The publisher's signature of a pack file.
    pub fn sign(&self, wasm: &[u8]) -> String {
        keys::sign_pack(&self.publisher, &digest(wasm))
    }
}

impl Default for TestKeys {
    fn default() -> Self {
        TestKeys::new()
    }
}

/// `sha256:<hex>` of bytes, as the catalog computes it.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
