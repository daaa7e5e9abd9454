//! The fleet log (`_fleet`): fleet pack uploads, the fleet layer, rollout
//! steps and integrity alarms, chained like a tenant's log and given what a
//! tenant's log has: checkpoints signed by the fleet key on the same
//! schedule, published to the fleet's anchors (`--fleet-anchor`), and
//! verification through the API and the CLI.
//!
//! The fleet key is an Ed25519 key made by the first server that needs it
//! and stored in the database with its secret sealed by the master key
//! (servers sharing a database share the master key), like a tenant's.

use crate::keys;
use crate::state::AppState;
use crate::trace_log::events::FLEET_LOG;
use ed25519_dalek::{SigningKey, VerifyingKey};
use warden_store::StoreError;

/// Why the fleet log's key is not available.
#[derive(Debug, thiserror::Error)]
pub enum FleetKeyError {
    /// The key could not be made, sealed or opened.
    #[error("the fleet key: {0}")]
    Key(#[from] keys::KeyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fleet log's signing key, made and stored on first use.
pub async fn signing_key(st: &AppState) -> Result<SigningKey, FleetKeyError> {
    st.fleet_key()
        .get_or_try_init(|| async {
            let (_, sealed) = match st.store().fleet_key().await? {
                Some(stored) => stored,
                None => {
                    let key = keys::generate_signing_key()?;
                    let sealed = st.master_key().seal(FLEET_LOG, key.as_bytes())?;
                    // Another server may have stored its key first: use that one.
                    st.store()
                        .fleet_key_init(key.verifying_key().as_bytes(), &sealed)
                        .await?
                }
            };
            Ok::<_, FleetKeyError>(keys::tenant_signing_key(
                st.master_key(),
                FLEET_LOG,
                &sealed,
            )?)
        })
        .await
        .cloned()
}

/// The fleet log's public key (made on first use, like the signing key).
pub async fn verifying_key(st: &AppState) -> Result<VerifyingKey, FleetKeyError> {
    Ok(signing_key(st).await?.verifying_key())
}
