//! The control plane through its router, on SQLite and on the local
//! PostgreSQL (each test in its own fresh database).

mod auth;
mod bad_input;
mod catalog;
mod compositions;
mod evaluate;
mod harness;
mod openapi;
mod rollouts;
mod tenants;
