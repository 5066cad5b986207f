//! FoundationDB-style buggify points in the shell: places where the simulator may (rarely,
//! seeded) take the slower of two legal paths, to widen timing windows that real clusters
//! hit only under load: an agent holding back its status reports for a while, an agent
//! heartbeat that never leaves. Off outside the simulator (the function is a constant
//! `false` without `cfg(madsim)`), and inside it unless the scenario asks (`[sim] buggify`,
//! [`enable`]); the draws come from the run's seeded RNG.
//!
//! Our own switch, not madsim's `buggify::enable`: that one also makes madsim's network
//! delay one message in ten by 1-5 s, a different (and much harsher) fault.

#[cfg(madsim)]
thread_local! {
    /// One simulation runs on one thread; each run sets it.
    static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Turns the buggify points on or off for the current simulated run.
#[cfg(madsim)]
pub fn enable(on: bool) {
    ON.with(|o| o.set(on));
}

/// Whether the buggify point fires this time (probability `p` when buggify is on).
pub fn fire(p: f64) -> bool {
    #[cfg(madsim)]
    {
        use madsim::rand::Rng;
        ON.with(|o| o.get()) && madsim::rand::thread_rng().gen_bool(p)
    }
    #[cfg(not(madsim))]
    {
        let _ = p;
        false
    }
}
