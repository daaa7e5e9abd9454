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

/// A tenant's settings: trace retention, the trace log, quarantine, and
/// sections later capabilities define (JSON objects until then).
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
    /// Read from tenants stored before approval policies became their own
    /// document; refused when settings are written (see
    /// `PUT /v1/tenants/{tenant}/approval-policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub approval_routing: Option<Reserved>,
    /// Spending budgets (reserved: the budgets capability defines it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub budgets: Option<Reserved>,
    /// Rate limits (reserved: the rate-limit capability defines it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rate_limits: Option<Reserved>,
    /// Cross-tenant grants (reserved: the grants capability defines it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub grants: Option<Reserved>,
}

/// A settings section a later capability defines: kept as the JSON object
/// it is (anything else is refused when the document is parsed, naming the
/// field) until its capability gives it a shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reserved(pub serde_json::Map<String, Value>);

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
        if self.approval_routing.is_some() {
            return Err(SettingsError::new(
                "settings.approval_routing".to_owned(),
                "approval routing is the approval policy document now: `PUT /v1/tenants/{tenant}/approval-policy`".to_owned(),
            ));
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
