//! Creating and changing tenants: a valid id and display name, settings
//! that validate, a fresh Ed25519 key pair sealed with the master key, and
//! every change recorded in the tenant's own trace log with it.

use crate::compositions::resolve::CompositionDoc;
use crate::keys::{self, KeyError};
use crate::state::{AppState, StateError};
use crate::tenants::settings::{SettingsError, TenantSettings};
use crate::trace_log::events::audit;
use warden_store::{Audit, StoreError, TenantRow, now_ms};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// Why a tenant was not created or changed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// Not a valid tenant id.
    #[error(
        "tenant id `{0}` is invalid: use 1 to 63 lowercase letters, digits and `-`, starting with a letter or digit"
    )]
    InvalidId(String),
    /// Not a valid display name.
    #[error("`display_name` {0}")]
    DisplayName(String),
    /// The settings do not validate.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A tenant of that id exists.
    #[error("tenant `{0}` already exists")]
    Exists(String),
    /// No tenant of that id.
    #[error("tenant `{0}` not found")]
    NotFound(String),
    /// Its key pair could not be made or sealed.
    #[error("cannot make the key of tenant `{tenant}`: {source}")]
    Key {
        /// The tenant.
        tenant: String,
        /// Why.
        source: KeyError,
    },
    /// The change was stored; the server's state could not pick it up.
    #[error(transparent)]
    State(#[from] StateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `id` is a valid tenant id: 1 to 63 lowercase letters, digits
/// and `-`, starting with a letter or digit.
pub fn valid_tenant_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A display name: 1 to 256 characters, no control characters (NUL included).
fn check_display_name(name: &str) -> Result<(), TenantError> {
    if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(TenantError::DisplayName(format!(
            "must be 1 to {MAX_DISPLAY_NAME_CHARS} characters long"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(TenantError::DisplayName(
            "must not contain control characters (NUL, line breaks)".to_owned(),
        ));
    }
    Ok(())
}

/// A new tenant's row: validated id, name and settings, a fresh key pair
/// sealed with the master key, an empty composition.
pub fn new_tenant_row(
    st: &AppState,
    id: &str,
    display_name: Option<&str>,
    settings: &TenantSettings,
) -> Result<TenantRow, TenantError> {
    if !valid_tenant_id(id) {
        return Err(TenantError::InvalidId(id.to_owned()));
    }
    if let Some(name) = display_name {
        check_display_name(name)?;
    }
    settings.validate()?;
    let key_error = |source| TenantError::Key {
        tenant: id.to_owned(),
        source,
    };
    let key = keys::generate_signing_key().map_err(key_error)?;
    let secret = st
        .master_key()
        .seal(id, key.as_bytes())
        .map_err(key_error)?;
    let encode = |what: &str, e: serde_json::Error| warden_store::corrupt(what, e);
    let now = now_ms();
    Ok(TenantRow {
        id: id.to_owned(),
        display_name: display_name.unwrap_or(id).to_owned(),
        disabled: false,
        public_key: key.verifying_key().to_bytes().to_vec(),
        secret_key: secret,
        settings: serde_json::to_string(settings).map_err(|e| encode("settings", e))?,
        composition: serde_json::to_string(&CompositionDoc::default())
            .map_err(|e| encode("composition", e))?,
        composition_version: 0,
        created_ms: now,
        updated_ms: now,
    })
}

/// The `tenant-created` event of a new tenant's row, for its own log.
pub fn created_event(
    row: &TenantRow,
    actor: &str,
    settings: &TenantSettings,
) -> Result<Audit, StoreError> {
    audit(
        &row.id,
        "tenant-created",
        actor,
        serde_json::json!({"display_name": row.display_name, "settings": settings}),
    )
}

/// Creates a tenant, recorded in its log as made by `actor`.
pub async fn create(
    st: &AppState,
    id: &str,
    display_name: Option<&str>,
    settings: &TenantSettings,
    actor: &str,
) -> Result<TenantRow, TenantError> {
    let row = new_tenant_row(st, id, display_name, settings)?;
    let event = created_event(&row, actor, settings)?;
    if !st.store().create_tenant(&row, &event).await? {
        return Err(TenantError::Exists(id.to_owned()));
    }
    st.refresh().await?;
    Ok(row)
}

/// What a change to a tenant sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// A new display name.
    pub display_name: Option<String>,
    /// Disable (no decisions) or enable the tenant.
    pub disabled: Option<bool>,
    /// A new settings document, replacing the old one whole.
    pub settings: Option<TenantSettings>,
}

/// Changes a tenant, recorded in its log as made by `actor`.
pub async fn update(
    st: &AppState,
    tenant: &str,
    change: &Change,
    actor: &str,
) -> Result<TenantRow, TenantError> {
    if let Some(name) = &change.display_name {
        check_display_name(name)?;
    }
    if let Some(s) = &change.settings {
        s.validate()?;
    }
    let settings = change
        .settings
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| warden_store::corrupt("settings", e))?;
    let event = audit(
        tenant,
        "tenant-updated",
        actor,
        serde_json::json!({"display_name": change.display_name, "disabled": change.disabled,
                           "settings": change.settings}),
    )?;
    let row = st
        .store()
        .update_tenant(
            tenant,
            change.display_name.as_deref(),
            change.disabled,
            settings.as_deref(),
            &event,
        )
        .await?
        .ok_or_else(|| TenantError::NotFound(tenant.to_owned()))?;
    st.refresh().await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_and_display_names() {
        for ok in ["acme", "a", "0-team", &"x".repeat(63)] {
            assert!(valid_tenant_id(ok), "{ok}");
        }
        for bad in ["", "-acme", "Acme", "ac me", "acme\0", "ä", &"x".repeat(64)] {
            assert!(!valid_tenant_id(bad), "{bad:?}");
        }
        assert!(check_display_name("ACME GmbH").is_ok());
        for bad in ["", "a\nb", "a\0b", &"é".repeat(257)] {
            let e = check_display_name(bad).unwrap_err();
            assert!(e.to_string().starts_with("`display_name` must"), "{e}");
        }
    }
}
