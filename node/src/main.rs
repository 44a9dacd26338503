//! `ilpt`: the ILP Torrent command-line tool. See `ilpt --help`.

fn main() -> std::process::ExitCode {
    // The workspace builds for x86-64-v3 (`.cargo/config.toml`); on an older CPU say so
    // at once instead of dying later on an illegal instruction.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if !(std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("popcnt"))
    {
        eprintln!(
            "error: this build of ilpt needs an x86-64-v3 CPU (AVX2, BMI2, POPCNT); \
             rebuild it for this one with `RUSTFLAGS= cargo build --release`"
        );
        return std::process::ExitCode::FAILURE;
    }
    ilpt_node::cli::main()
}
