//! What is wrong with a settings document (a tenant's, or the fleet log's
//! trace settings): the field, by its path, and why.

/// A settings document that does not validate: the field, by its path in
/// the request body (`settings.trace.masking[0].pointer`), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct SettingsError {
    /// The offending field's path in the request body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl SettingsError {
    /// The error for `field`.
    pub fn new(field: String, message: String) -> SettingsError {
        SettingsError { field, message }
    }
}
