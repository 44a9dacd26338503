//! Random draws for the engine, all from the protocol's SplitMix64 ([`Rng`]).
//!
//! Each purpose (arrivals, lifetimes, tracker answers, …) has its own stream derived
//! from the run's seed, so changing how one purpose draws does not reshuffle the
//! others: two runs that differ only in, say, the revenue share see the same arrivals.

use ilpt_protocol::rng::Rng;

/// What a stream is used for (its derivation constant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Arrival times.
    Arrivals = 1,
    /// Behaviour of each arrival.
    Behaviours = 2,
    /// Seeding and abort times.
    Lifetimes = 3,
    /// Tracker answers.
    Tracker = 4,
    /// Seeds of the peers' pickers.
    Pickers = 5,
}

/// One independent stream of random numbers.
#[derive(Debug, Clone)]
pub(crate) struct Stream(Rng);

impl Stream {
    /// The stream for `purpose` in the run seeded with `seed`.
    pub(crate) fn new(seed: u64, purpose: Purpose) -> Stream {
        let mut mix = Rng::new(seed ^ (purpose as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        Stream(Rng::new(mix.next_u64()))
    }

    /// 64 random bits.
    pub(crate) fn bits(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with the given mean (0 for a mean of 0, infinite for infinite).
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        if mean <= 0.0 {
            0.0
        } else if mean.is_infinite() {
            f64::INFINITY
        } else {
            -mean * self.unit().ln()
        }
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_has_the_requested_mean_and_streams_differ() {
        let mut s = Stream::new(7, Purpose::Lifetimes);
        let n = 200_000;
        let mean = (0..n).map(|_| s.exponential(3.0)).sum::<f64>() / n as f64;
        assert!((mean - 3.0).abs() < 0.03, "{mean}");
        let a = Stream::new(7, Purpose::Arrivals).bits();
        let b = Stream::new(7, Purpose::Tracker).bits();
        assert_ne!(a, b);
        assert_eq!(a, Stream::new(7, Purpose::Arrivals).bits());
    }
}
