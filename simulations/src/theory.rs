//! The results the simulator is validated against (see `simulations/README.md`), as
//! functions of a scenario's parameters.

/// Qiu & Srikant (SIGCOMM 2004), fluid model, steady state with no aborts: the mean
/// download time `T = max(1/c, (1/η)(1/μ − 1/γ))`.
///
/// `c` and `mu` are a peer's download and upload rates in files per second, `gamma` the
/// seed departure rate (1 / mean seeding time) and `eta` the effectiveness of sharing
/// (≈ 1 with many pieces).
pub fn qiu_srikant_download_time(c: f64, mu: f64, gamma: f64, eta: f64) -> f64 {
    (1.0 / c).max((1.0 / eta) * (1.0 / mu - 1.0 / gamma))
}

/// Kumar & Ross (2006): no schedule distributes a file of `file_bytes` to `n` peers
/// faster than `max(F/u_s, F/d_min, N·F/(u_s + Σu_i))`. Rates in bytes per second.
pub fn kumar_ross_min_time(
    file_bytes: f64,
    n: u64,
    server_upload: f64,
    min_download: f64,
    peers_upload_sum: f64,
) -> f64 {
    let f = file_bytes;
    (f / server_upload)
        .max(f / min_download)
        .max(n as f64 * f / (server_upload + peers_upload_sum))
}

/// Hajek & Zhu (2010): with peers that leave on completion, the swarm is stable only if
/// the seed uploads pieces faster than peers arrive. The seed's piece rate, pieces/s.
pub fn hajek_zhu_seed_piece_rate(seed_upload: f64, piece_bytes: f64) -> f64 {
    seed_upload / piece_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regimes() {
        // Download-limited: seeds stay longer than an upload of the file.
        assert_eq!(qiu_srikant_download_time(0.05, 0.1, 0.05, 1.0), 20.0);
        // Upload-limited: 1/μ − 1/γ = 10 − 2.
        assert_eq!(qiu_srikant_download_time(0.4, 0.1, 0.5, 1.0), 8.0);
        assert_eq!(kumar_ross_min_time(100.0, 10, 10.0, 50.0, 90.0), 10.0);
    }
}
