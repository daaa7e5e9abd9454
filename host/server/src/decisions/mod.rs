//! How decisions are scheduled: fair admission across tenants
//! (`admission`), where each is evaluated, in place or on the pool (`pace`,
//! judged by `cpu_time`), and quarantined packs' circuit breakers
//! (`quarantine`). The endpoint is [`crate::api::evaluate`].

pub mod admission;
pub mod cpu_time;
pub mod pace;
pub mod quarantine;
