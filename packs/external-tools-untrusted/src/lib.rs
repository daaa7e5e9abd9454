//! external-tools-untrusted pack (being written).
