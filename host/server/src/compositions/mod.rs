//! Compositions: a tenant's composition document and how it resolves to
//! pack versions (`resolve`: semver requirements, the fleet's current
//! versions, rollouts). Built into runtimes by [`crate::state`]; endpoints
//! in [`crate::api::compositions`].

pub mod resolve;
