//! A tenant's settings document: trace retention, the trace log's
//! checkpoints, masking and anchors, quarantine thresholds, and the sections
//! later capabilities fill (approval routing, budgets, rate limits, grants).
//! Read once from the tenant's row, checked before it is stored.

pub use crate::tenants::settings_error::SettingsError;
use crate::trace_log::settings::{Retention, TraceSettings};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use warden_store::{StoreError, TenantRow};

/// A tenant's settings: the trace log's are typed; the others are JSON
/// documents that later capabilities fill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Trace retention per event class.
    #[serde(
        default,
        deserialize_with = "warden_host::json_object::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention: Option<Retention>,
    /// Trace log: checkpoint cadence, masking, anchoring.
    #[serde(
        default,
        deserialize_with = "warden_host::json_object::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub trace: Option<TraceSettings>,
    /// When a pack that keeps failing (deadline, memory, trap) is
    /// quarantined for this tenant, and for how long (defaults: 5 failures
    /// in 10 s, 30 s doubling up to 10 min).
    #[serde(
        default,
        deserialize_with = "warden_host::json_object::optional",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<crate::api::schemas::Quarantine>)]
    pub quarantine: Option<warden_host::BreakerConfig>,
    /// Approval routing: routes, escalation chains, SLAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub approval_routing: Option<Value>,
    /// Spending budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub budgets: Option<Value>,
    /// Rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rate_limits: Option<Value>,
    /// Cross-tenant grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub grants: Option<Value>,
}

impl TenantSettings {
    /// Checks the typed parts; the error names the field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(t) = &self.trace {
            t.validate()?;
        }
        if let Some(q) = &self.quarantine {
            q.validate()
                .map_err(|m| SettingsError::new("settings.quarantine".to_owned(), m))?;
        }
        // Documented as objects: anything else would be stored and then
        // break the tenant's own responses.
        for (name, v) in [
            ("approval_routing", &self.approval_routing),
            ("budgets", &self.budgets),
            ("rate_limits", &self.rate_limits),
            ("grants", &self.grants),
        ] {
            if let Some(v) = v
                && !v.is_object()
            {
                return Err(SettingsError::new(
                    format!("settings.{name}"),
                    "must be a JSON object".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// A tenant's stored settings document.
    pub fn stored(row: &TenantRow) -> Result<TenantSettings, StoreError> {
        serde_json::from_str(&row.settings).map_err(|e| warden_store::corrupt("settings", e))
    }

    /// The quarantine thresholds, defaults where unset.
    pub fn quarantine_or_default(&self) -> warden_host::BreakerConfig {
        self.quarantine.unwrap_or_default()
    }

    /// The trace settings, defaults where unset.
    pub fn trace_or_default(&self) -> TraceSettings {
        self.trace.clone().unwrap_or_default()
    }
}
