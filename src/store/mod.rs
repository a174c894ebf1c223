//! The embedded store (SPEC §4, §7).
