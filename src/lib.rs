//! Circle Keeper: a secure real-time server for restorative-justice circles.

pub mod auth;
pub mod circle;
pub mod config;
pub mod store;
