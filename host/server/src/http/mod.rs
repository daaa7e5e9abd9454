//! The HTTP layer's plumbing: problem documents ([`problem`]), the
//! extractors that check what a request carries ([`extract`]), the edge
//! check of paths and query strings ([`edge`]), request tracing
//! ([`request_log`]), and the one place where the domains' errors become
//! problems ([`errors`]). Domain code returns its own `thiserror` types;
//! nothing outside this folder and the handlers in [`crate::api`] knows
//! about status codes.

pub mod edge;
pub mod errors;
pub mod extract;
pub mod problem;
pub mod request_log;
