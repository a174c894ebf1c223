//! Scenario and property tests of the room, driven with simulated time.

mod agreement;
mod arrival;
mod co_keepers;
mod feedback;
mod floor;
mod gathering;
mod guardians;
mod harness;
mod interpreting;
mod interpreting_properties;
mod outline;
mod properties;
mod purity;
mod script;
mod shown;
mod stepping_out;
mod summary;
mod supporters;
mod values;
