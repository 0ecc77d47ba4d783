//! Storage: to come.
