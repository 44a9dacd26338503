//! Progress of a long run, reported in virtual time. The simulator does no terminal
//! I/O itself; the `ilpt simulate` command draws a bar from these calls.

/// Receives the run's progress now and then.
pub trait Progress {
    /// Virtual time reached, out of `end_s`.
    fn update(&mut self, now_s: f64, end_s: f64);
    /// The run is over.
    fn finish(&mut self);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _now_s: f64, _end_s: f64) {}
    fn finish(&mut self) {}
}
