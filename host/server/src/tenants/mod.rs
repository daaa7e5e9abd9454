//! Tenants: the settings document of each (`settings`) and what is wrong
//! with one that does not validate (`settings_error`). Their rows are in the
//! store; their runtimes in [`crate::state`]; their endpoints in
//! [`crate::api::tenants`].

pub mod lifecycle;
pub mod settings;
pub mod settings_error;
