//! The pack catalog: what an upload must pass before it is stored
//! (`upload`: size, signature, a pack that loads, immutable versions).
//! Listing, metadata, download and diff read the store directly; their
//! endpoints are [`crate::api::packs`].

pub mod upload;
