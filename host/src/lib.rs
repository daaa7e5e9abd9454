//! warden host
