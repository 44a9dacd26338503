//! A run is a function of its scenario: same seed, same results, to the last byte.

// A failed expectation in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{run, scenario};

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let mut c = scenario("pirates");
    c.run.duration_s = 200.0;
    let a = serde_json::to_string(&run(&c)).unwrap();
    let b = serde_json::to_string(&run(&c)).unwrap();
    assert_eq!(a, b);
    c.run.seed += 1;
    let other = serde_json::to_string(&run(&c)).unwrap();
    assert_ne!(a, other);
}
