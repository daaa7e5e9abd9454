//! Approvals: what happens after an `escalate`. A tenant's approval policy
//! ([`policy`]) routes each escalation ([`routing`], with [`glob`]
//! patterns) to an escalation policy, a chain of steps with approvers, a
//! quorum and an SLA. The escalated decision opens an approval request in
//! its own transaction; votes, deadlines ([`timers`]) and the runtime's
//! redemption move the request's record ([`record`], pure) through
//! compare-and-swap changes that commit with their trace events
//! ([`service`]). Runtimes wait for outcomes without polling ([`waiters`],
//! woken across servers by [`feed`]); policies' [`webhooks`] hear of each
//! request, step change and resolution.
//! Design: `docs/adr/0028-approvals.md`.

pub mod error;
pub mod feed;
pub mod glob;
pub mod policy;
pub mod record;
pub mod routing;
pub mod service;
pub mod timers;
pub mod waiters;
pub mod webhooks;

pub use error::ApprovalError;
