//! Circle Keeper: a secure real-time server for restorative-justice circles
//! and victim-offender dialogues. See SPEC §7 for the layout: `circle` holds
//! every rule and is pure; everything else is a thin edge around it.

pub mod api;
pub mod auth;
pub mod circle;
pub mod config;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod invitations;
pub mod media;
pub mod rooms;
pub mod server;
pub mod signal;
pub mod store;
pub mod telemetry;
#[doc(hidden)]
pub mod tls;
pub mod turn;
pub mod web;
pub mod webhooks;
