//! Staged rollouts of fleet packs: starting one and each step after it
//! (`steps`), with the check of which tenants can build their compositions
//! with the new version. The rollout document and its rules are the
//! engine's (`warden_host::rollout`); the endpoints are
//! [`crate::api::rollouts`].

pub mod steps;
