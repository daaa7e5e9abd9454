//! Checkpoints: the tenant's Ed25519 key signs {tenant, sequence, head, time}.

use super::{Hash, TraceError, canonical};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What a checkpoint asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The tenant.
    pub tenant: String,
    /// The last sequence number covered.
    pub seq: u64,
    /// The chain's head hash at `seq` (hex).
    pub head: String,
    /// When it was made (Unix ms).
    pub at_ms: i64,
}

/// A checkpoint and its signature over the checkpoint's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Ed25519 signature, base64.
    pub signature: String,
}

impl Checkpoint {
    /// A checkpoint of `head` at `seq`.
    pub fn new(tenant: &str, seq: u64, head: &Hash, at_ms: i64) -> Checkpoint {
        Checkpoint {
            tenant: tenant.to_owned(),
            seq,
            head: super::hash_hex(head),
            at_ms,
        }
    }

    fn message(&self) -> Result<Vec<u8>, TraceError> {
        let mut m = b"warden-checkpoint-v1\n".to_vec();
        m.extend(canonical("checkpoint", self)?);
        Ok(m)
    }

    /// Signs with the tenant's key.
    pub fn sign(self, key: &SigningKey) -> Result<SignedCheckpoint, TraceError> {
        let signature = B64.encode(key.sign(&self.message()?).to_bytes());
        Ok(SignedCheckpoint {
            checkpoint: self,
            signature,
        })
    }
}

impl SignedCheckpoint {
    /// Whether the signature verifies with `key`.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = B64.decode(self.signature.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.checkpoint
            .message()
            .is_ok_and(|m| key.verify(&m, &sig).is_ok())
    }
}
