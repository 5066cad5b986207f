//! Scenario files live beside this crate; its tests run them under the simulator.
