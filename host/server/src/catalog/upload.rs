//! Uploading a pack: the cheap checks first (size, then the signature over
//! the digest, or its absence where signatures are required), so a refused
//! upload costs no compilation; then the pack must load, and a version,
//! once stored, never changes. The compiled artifact is kept in the cache
//! only once the pack is stored.

use crate::keys::{SignatureError, verify_pack, verify_pack_v1};
use crate::state::{AppState, StateError};
use crate::trace_log::events::{FLEET_LOG, audit};
use bytes::Bytes;
use serde_json::json;
use warden_store::{Inserted, PackRow, PackScope, StoreError, now_ms};

/// What an upload did.
#[derive(Debug, Clone, PartialEq)]
pub enum Uploaded {
    /// A new version, stored.
    Created(PackRow),
    /// The same bytes were already stored under this version.
    Unchanged(PackRow),
}

impl Uploaded {
    /// The stored version.
    pub fn row(&self) -> &PackRow {
        match self {
            Uploaded::Created(r) | Uploaded::Unchanged(r) => r,
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Over the engine's pack size limit.
    #[error("the pack is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// The upload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Signatures are required and there is none.
    #[error("pack `{0}` is unsigned and this server requires signed packs")]
    Unsigned(String),
    /// Signatures are required and no trusted key verifies this one.
    #[error(
        "the signature over `{0}` does not verify with any trusted publisher key (this server requires signatures made by `warden pack sign`, over the pack's digest)"
    )]
    Untrusted(String),
    /// The signature is malformed, or a version 1 signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a pack the engine loads.
    #[error(transparent)]
    Invalid(warden_host::LoadError),
    /// The version exists with other bytes.
    #[error(
        "pack `{name}@{version}` already exists with digest `{existing}`; versions are immutable, publish a new version"
    )]
    Conflict {
        /// Pack name.
        name: String,
        /// Version.
        version: String,
        /// The stored version's digest.
        existing: String,
        /// The upload's digest.
        uploaded: String,
    },
    /// The state could not pick up the new version.
    #[error(transparent)]
    State(#[from] StateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks, verifies and stores an uploaded pack in `scope` for `uploader`.
/// `trusted` sources (the built-in packs directory) need no signature even
/// where signatures are required; one that is present is still verified.
pub async fn upload(
    st: &AppState,
    scope: PackScope,
    uploader: &str,
    bytes: Bytes,
    signature: Option<&str>,
    trusted: bool,
) -> Result<Uploaded, CatalogError> {
    let max = st.engine().config().max_pack_size;
    if bytes.len() > max {
        return Err(CatalogError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let digest = warden_host::pack_digest(&bytes);
    let required = st.require_signed_packs() && !trusted;
    // `Ok(publisher)` verified over the digest; `Err(sig)` a version 1
    // signature, which can only be checked once the pack is compiled.
    let verified: Option<Result<String, &str>> = match signature {
        Some(sig) => match verify_pack(st.publishers(), sig, &digest) {
            Ok(publisher) => Some(Ok(publisher)),
            Err(SignatureError::Untrusted(_)) if !required => Some(Err(sig)),
            Err(SignatureError::Untrusted(_)) => return Err(CatalogError::Untrusted(digest)),
            Err(e) => return Err(e.into()),
        },
        None if required => return Err(CatalogError::Unsigned(digest)),
        None => None,
    };
    let pack = st
        .engine()
        .check_pack_async(bytes.clone())
        .await
        .map_err(CatalogError::Invalid)?;
    let (name, version) = (pack.name().to_owned(), pack.version().to_string());
    let publisher = match verified {
        Some(Ok(publisher)) => Some(publisher),
        Some(Err(sig)) => Some(verify_pack_v1(
            st.publishers(),
            sig,
            &name,
            &version,
            &digest,
        )?),
        None => None,
    };
    let row = PackRow {
        scope: scope.key().to_owned(),
        name: name.clone(),
        version: version.clone(),
        digest: pack.digest().to_owned(),
        size: i64::try_from(pack.size()).unwrap_or(i64::MAX),
        info: pack.info().clone(),
        publisher,
        signature: signature.map(|s| s.trim().to_owned()),
        uploaded_ms: now_ms(),
        uploaded_by: uploader.to_owned(),
    };
    let log = match &scope {
        PackScope::Fleet => FLEET_LOG,
        PackScope::Tenant(t) => t.as_str(),
    };
    let event = audit(
        log,
        "pack-uploaded",
        uploader,
        json!({"name": row.name, "version": row.version, "digest": row.digest,
               "size": row.size, "publisher": row.publisher,
               "signed": row.signature.is_some()}),
    )?;
    match st.store().insert_pack(&row, &bytes, &event).await? {
        Inserted::Created => {
            st.engine().keep_compiled(&pack);
            st.remember_pack(pack);
            st.refresh().await?;
            Ok(Uploaded::Created(row))
        }
        Inserted::Unchanged(existing) => Ok(Uploaded::Unchanged(existing)),
        Inserted::Conflict(existing) => Err(CatalogError::Conflict {
            name,
            version,
            existing: existing.digest,
            uploaded: row.digest,
        }),
    }
}
