//! pii-strict pack (being written).
