//! Configuration (SPEC §6.1).
