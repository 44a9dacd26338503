//! Checks every value of a [`ScenarioFile`] and converts it to engine units.

use ilpt_protocol::amount::{Amount, Bps};
use ilpt_protocol::pieces::PieceLayout;

use super::error::ScenarioError;
use super::schema::{ArrivalsSection, BehavioursSection, FaultsSection, ScenarioFile};
use crate::config::{
    Arrivals, BehaviourMix, Config, CreatorLink, Faults, Interval, LicenseTerms, PeerLimits,
    RunLimits, Seeding, VerifierMode, MAX_ARRIVALS, MAX_PIECES, MIB,
};

/// Most rows a time series may have.
const MAX_SAMPLES: f64 = 1_000_000.0;
/// Largest piece: 64 MiB (BitTorrent clients refuse more).
const MAX_PIECE_KIB: u64 = 64 * 1024;
/// Most slots, requests or connections per peer.
const MAX_PER_PEER: u32 = 1000;

type Result<T> = std::result::Result<T, ScenarioError>;

fn positive(key: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(ScenarioError::value(key, "a positive finite number", v))
    }
}

fn non_negative(key: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ScenarioError::value(key, "a finite number ≥ 0", v))
    }
}

fn count(key: &'static str, v: u32, min: u32) -> Result<usize> {
    if (min..=MAX_PER_PEER).contains(&v) {
        Ok(v as usize)
    } else {
        Err(ScenarioError::value(
            key,
            format!("an integer from {min} to {MAX_PER_PEER}"),
            v,
        ))
    }
}

fn fraction(key: &'static str, v: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ScenarioError::value(key, "a fraction from 0 to 1", v))
    }
}

fn unused(key: &'static str, kind: &str, present: bool) -> Result<()> {
    if present {
        Err(ScenarioError::value(
            key,
            format!("no value (it is not used by kind = \"{kind}\")"),
            "a value",
        ))
    } else {
        Ok(())
    }
}

fn required<T>(key: &'static str, kind: &str, v: Option<T>) -> Result<T> {
    v.ok_or_else(|| {
        ScenarioError::value(key, format!("a value (kind = \"{kind}\" needs it)"), "none")
    })
}

fn arrivals(a: &ArrivalsSection) -> Result<Arrivals> {
    let cap = |v: Option<u64>| -> Result<u64> {
        match v {
            None => Ok(MAX_ARRIVALS),
            Some(n) if (1..=MAX_ARRIVALS).contains(&n) => Ok(n),
            Some(n) => Err(ScenarioError::value(
                "arrivals.max_count",
                format!("1 to {MAX_ARRIVALS}"),
                n,
            )),
        }
    };
    match a.kind.as_str() {
        "poisson" => {
            unused("arrivals.count", "poisson", a.count.is_some())?;
            unused("arrivals.decay_s", "poisson", a.decay_s.is_some())?;
            let rate = required("arrivals.rate_per_s", "poisson", a.rate_per_s)?;
            Ok(Arrivals::Poisson {
                rate_per_s: positive("arrivals.rate_per_s", rate)?,
                max_count: cap(a.max_count)?,
            })
        }
        "flash" => {
            unused("arrivals.rate_per_s", "flash", a.rate_per_s.is_some())?;
            unused("arrivals.decay_s", "flash", a.decay_s.is_some())?;
            unused("arrivals.max_count", "flash", a.max_count.is_some())?;
            let n = required("arrivals.count", "flash", a.count)?;
            if !(1..=MAX_ARRIVALS).contains(&n) {
                return Err(ScenarioError::value(
                    "arrivals.count",
                    format!("1 to {MAX_ARRIVALS}"),
                    n,
                ));
            }
            Ok(Arrivals::Flash { count: n })
        }
        "decay" => {
            unused("arrivals.count", "decay", a.count.is_some())?;
            let rate = required("arrivals.rate_per_s", "decay", a.rate_per_s)?;
            let decay = required("arrivals.decay_s", "decay", a.decay_s)?;
            Ok(Arrivals::Decay {
                rate_per_s: positive("arrivals.rate_per_s", rate)?,
                decay_s: positive("arrivals.decay_s", decay)?,
                max_count: cap(a.max_count)?,
            })
        }
        other => Err(ScenarioError::value(
            "arrivals.kind",
            "\"poisson\", \"flash\" or \"decay\"",
            format!("{other:?}"),
        )),
    }
}

fn mix(b: &BehavioursSection) -> Result<BehaviourMix> {
    let m = BehaviourMix {
        free_rider: fraction("behaviours.free_rider", b.free_rider)?,
        pirate: fraction("behaviours.pirate", b.pirate)?,
        replayer: fraction("behaviours.replayer", b.replayer)?,
        forger: fraction("behaviours.forger", b.forger)?,
        colluder: fraction("behaviours.colluder", b.colluder)?,
        sybil: fraction("behaviours.sybil", b.sybil)?,
        share_thief: fraction("behaviours.share_thief", b.share_thief)?,
        replay_seeders: count("behaviours.replay_seeders", b.replay_seeders, 1)? as u32,
        sybil_identities: count("behaviours.sybil_identities", b.sybil_identities, 1)? as u32,
        patience_s: positive("behaviours.patience_s", b.patience_s).or_else(|e| {
            if b.patience_s == f64::INFINITY {
                Ok(f64::INFINITY)
            } else {
                Err(e)
            }
        })?,
    };
    let sum =
        m.free_rider + m.pirate + m.replayer + m.forger + m.colluder + m.sybil + m.share_thief;
    if sum > 1.0 + 1e-9 {
        return Err(ScenarioError::value(
            "behaviours",
            "fractions that add up to at most 1",
            format!("a sum of {sum}"),
        ));
    }
    Ok(m)
}

fn intervals(key: &'static str, list: &[[f64; 2]]) -> Result<Vec<Interval>> {
    let mut out: Vec<Interval> = Vec::with_capacity(list.len());
    for [start, end] in list {
        if !(start.is_finite() && end.is_finite() && *start >= 0.0 && start < end) {
            return Err(ScenarioError::value(
                key,
                "[start_s, end_s] pairs with 0 ≤ start < end",
                format!("[{start}, {end}]"),
            ));
        }
        if out.last().is_some_and(|last| *start < last.end) {
            return Err(ScenarioError::value(
                key,
                "intervals in time order that do not overlap",
                format!("[{start}, {end}] after one ending later"),
            ));
        }
        out.push(Interval {
            start: *start,
            end: *end,
        });
    }
    Ok(out)
}

fn faults(f: &FaultsSection) -> Result<Faults> {
    let verifier_mode = match f.verifier_mode.as_str() {
        "fail_closed" => {
            if f.fail_open_credit != 0 {
                return Err(ScenarioError::value(
                    "faults.fail_open_credit",
                    "0 (it applies only with verifier_mode = \"fail_open\")",
                    f.fail_open_credit,
                ));
            }
            VerifierMode::FailClosed
        }
        "fail_open" => VerifierMode::FailOpen {
            credit: Amount(f.fail_open_credit),
        },
        other => {
            return Err(ScenarioError::value(
                "faults.verifier_mode",
                "\"fail_closed\" or \"fail_open\"",
                format!("{other:?}"),
            ))
        }
    };
    Ok(Faults {
        tracker_outages: intervals("faults.tracker_outages", &f.tracker_outages)?,
        verifier_outages: intervals("faults.verifier_outages", &f.verifier_outages)?,
        verifier_mode,
        dht_fallback: f.dht_fallback,
    })
}

/// Checks `file` and converts it to a [`Config`].
pub(super) fn validate(file: &ScenarioFile) -> Result<Config> {
    let size = positive("file.size_mib", file.file.size_mib)?;
    let piece_kib = file.file.piece_kib;
    if !(1..=MAX_PIECE_KIB).contains(&piece_kib) {
        return Err(ScenarioError::value(
            "file.piece_kib",
            format!("1 to {MAX_PIECE_KIB}"),
            piece_kib,
        ));
    }
    let total = (size * MIB).round() as u64;
    let layout = PieceLayout::new(piece_kib * 1024, total)
        .map_err(|e| ScenarioError::value("file", "a file of at least one byte", e))?;
    if layout.piece_count() > MAX_PIECES {
        return Err(ScenarioError::value(
            "file",
            format!("at most {MAX_PIECES} pieces (size_mib / piece_kib)"),
            format!("{} pieces", layout.piece_count()),
        ));
    }
    let p = &file.peers;
    let peers = PeerLimits {
        upload_bps: positive("peers.upload_mibps", p.upload_mibps)? * MIB,
        download_bps: positive("peers.download_mibps", p.download_mibps)? * MIB,
        upload_slots: count("peers.upload_slots", p.upload_slots, 1)?,
        max_requests: count("peers.max_requests", p.max_requests, 1)?,
        max_connections: count("peers.max_connections", p.max_connections, 1)?,
        peers_per_announce: count("peers.peers_per_announce", p.peers_per_announce, 1)?,
        min_peers: count("peers.min_peers", p.min_peers, 0)?,
        announce_interval_s: positive("peers.announce_interval_s", p.announce_interval_s)?,
        rechoke_pieces: count("peers.rechoke_pieces", p.rechoke_pieces, 1)?,
    };
    let creator = CreatorLink {
        upload_bps: positive("creator.upload_mibps", file.creator.upload_mibps)? * MIB,
        upload_slots: match file.creator.upload_slots {
            Some(n) => count("creator.upload_slots", n, 1)?,
            None => peers.upload_slots,
        },
    };
    let mean_seed = file.seeding.mean_seed_time_s;
    if mean_seed.is_nan() || mean_seed < 0.0 {
        return Err(ScenarioError::value(
            "seeding.mean_seed_time_s",
            "a number ≥ 0, or inf",
            mean_seed,
        ));
    }
    let r = &file.run;
    let duration_s = positive("run.duration_s", r.duration_s)?;
    let warmup_s = non_negative("run.warmup_s", r.warmup_s)?;
    if warmup_s >= duration_s {
        return Err(ScenarioError::value(
            "run.warmup_s",
            format!("less than run.duration_s ({duration_s})"),
            warmup_s,
        ));
    }
    let sample_interval_s = match r.sample_interval_s {
        Some(s) => positive("run.sample_interval_s", s)?,
        None => duration_s / 400.0,
    };
    if duration_s / sample_interval_s > MAX_SAMPLES {
        return Err(ScenarioError::value(
            "run.sample_interval_s",
            format!("at most {MAX_SAMPLES} rows over the run"),
            sample_interval_s,
        ));
    }
    let l = &file.license;
    let latency = non_negative("license.verifier_latency_ms", l.verifier_latency_ms)?;
    let creator_share = Bps::new(l.creator_share_bps)
        .map_err(|e| ScenarioError::value("license.creator_share_bps", "0 to 10000", e.0))?;
    Ok(Config {
        layout,
        peers,
        creator,
        arrivals: arrivals(&file.arrivals)?,
        abort_rate_per_s: non_negative(
            "arrivals.abort_rate_per_s",
            file.arrivals.abort_rate_per_s,
        )?,
        seeding: Seeding {
            mean_seed_time_s: mean_seed,
            until_earned: Amount(file.seeding.until_earned),
        },
        mix: mix(&file.behaviours)?,
        faults: faults(&file.faults)?,
        license: LicenseTerms {
            price: Amount(l.price),
            creator_share,
            verifier_latency_s: latency / 1000.0,
            windows: ilpt_protocol::charging::Windows::default(),
        },
        run: RunLimits {
            duration_s,
            warmup_s,
            seed: r.seed,
            sample_interval_s,
            stop_when_idle: r.stop_when_idle,
        },
    })
}

#[cfg(test)]
mod tests {
    use crate::scenario::{parse, ScenarioError};

    const BASE: &str = r#"
[file]
size_mib = 16
piece_kib = 256
[peers]
upload_mibps = 1
download_mibps = 4
[arrivals]
kind = "poisson"
rate_per_s = 1.0
[creator]
upload_mibps = 1
[run]
duration_s = 100
"#;

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.layout.piece_count(), 64);
        assert_eq!(c.peers.upload_slots, 4);
        assert_eq!(c.license.creator_share.get(), 8000);
    }

    #[test]
    fn a_misspelt_key_is_an_error_that_names_it() {
        let text = BASE.replace("upload_mibps = 1\ndownload", "uplaod_mibps = 1\ndownload");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("uplaod_mibps"), "{e}");
    }

    #[test]
    fn a_key_of_another_arrival_kind_is_refused() {
        let text = BASE.replace("rate_per_s = 1.0", "rate_per_s = 1.0\ncount = 5");
        let e = parse(&text).unwrap_err();
        assert!(
            matches!(
                e,
                ScenarioError::Value {
                    key: "arrivals.count",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("not used by kind = \"poisson\""));
    }

    #[test]
    fn out_of_range_values_say_what_was_expected() {
        let text = BASE.replace("rate_per_s = 1.0", "rate_per_s = -2.0");
        let e = parse(&text).unwrap_err().to_string();
        assert_eq!(
            e,
            "scenario arrivals.rate_per_s: expected a positive finite number, found -2"
        );
        let text = format!("{BASE}[behaviours]\nfree_rider = 0.7\npirate = 0.5\n");
        assert!(parse(&text)
            .unwrap_err()
            .to_string()
            .contains("add up to at most 1"));
        let text = format!("{BASE}[faults]\nverifier_outages = [[10.0, 5.0]]\n");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn infinite_seeding_is_allowed() {
        let text = format!("{BASE}[seeding]\nmean_seed_time_s = inf\n");
        assert!(parse(&text).unwrap().seeding.mean_seed_time_s.is_infinite());
    }
}
