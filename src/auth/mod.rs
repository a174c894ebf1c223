//! Invitation tokens (SPEC §6.3, §5.3).
