//! Benchmark: one seeder to one leecher over loopback, `ilpt` against aria2c (work in
//! progress).

fn main() {
    println!("SKIP transfer_vs_aria2: not written yet");
}
