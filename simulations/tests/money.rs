//! Money: every spend is the protocol's `Terms::decide`, carried out by the simulated
//! verifier, so the books must balance to the unit whatever the swarm does, and honest
//! peers must never serve a byte that is not paid for — whoever cheats.

// A failed expectation in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{run, scenario};
use ilpt_sim::Summary;

fn books_balance(name: &str, s: &Summary, price: u64) {
    let payouts = s.creator_revenue + s.seeder_revenue + s.pending_shares;
    assert_eq!(
        payouts,
        i128::from(s.total_paid),
        "{name}: Σ earnings and pending shares ≠ Σ verified payments"
    );
    let earned: i128 = s.by_behaviour.values().map(|b| b.earned + b.pending).sum();
    assert_eq!(
        earned,
        i128::from(s.total_paid),
        "{name}: Σ earnings by party"
    );
    let paid: u64 = s.by_behaviour.values().map(|b| b.paid).sum();
    assert_eq!(paid, s.total_paid, "{name}: Σ charges by payer");
    assert_eq!(
        s.total_paid + s.unspent_balances,
        s.total_credited,
        "{name}: balances"
    );
    assert!(
        s.total_credited <= s.total_funded,
        "{name}: credit above payments"
    );
    assert!(
        s.max_paid_by_one_payer <= price,
        "{name}: a payer paid above the price"
    );
    assert!(
        s.creator_revenue > 0 && s.total_paid > 0,
        "{name}: money moved"
    );
}

fn no_unpaid_service(name: &str, s: &Summary) {
    assert_eq!(s.unpaid_bytes_served, 0, "{name}: unpaid bytes");
    for (b, f) in &s.by_behaviour {
        assert!(
            f.pieces_received <= f.pieces_paid,
            "{name}: {b} received {} pieces, paid for {}",
            f.pieces_received,
            f.pieces_paid
        );
    }
}

#[test]
fn payouts_equal_verified_payments_exactly_in_every_money_scenario() {
    for name in [
        "money",
        "pirates",
        "replay",
        "faults",
        "fail_open",
        "share_thief",
    ] {
        let c = scenario(name);
        let s = run(&c).summary;
        books_balance(name, &s, c.license.price.0);
        println!(
            "{name}: paid {} = creator {} + seeders {}; unpaid bytes {}",
            s.total_paid, s.creator_revenue, s.seeder_revenue, s.unpaid_bytes_served
        );
    }
}

#[test]
fn with_no_pirates_no_unpaid_byte_is_served_whoever_cheats() {
    let s = run(&scenario("money")).summary;
    no_unpaid_service("money", &s);
    for cheat in ["free_rider", "forger", "sybil"] {
        let f = &s.by_behaviour[cheat];
        assert!(f.peers > 0, "{cheat} present");
        assert_eq!(f.pieces_received, 0, "{cheat} got pieces");
    }
    assert!(s.refused_forged > 0 && s.refused_balance > 0);
    assert!(
        s.sybil_extra_identities > 0,
        "sybils came back under new identities"
    );
    // Colluders get their seeder share back, but the creator's share is untouched.
    let col = &s.by_behaviour["colluder"];
    assert!(col.completed > 0 && col.earned > 0);
}

#[test]
fn receipt_replay_across_k_seeders_yields_no_unpaid_service() {
    let c = scenario("replay");
    let s = run(&c).summary;
    no_unpaid_service("replay", &s);
    assert_eq!(
        s.total_credited, s.total_funded,
        "each receipt credited once"
    );
    let r = &s.by_behaviour["replayer"];
    let k = u64::from(c.mix.replay_seeders);
    let pieces = u64::from(c.layout.piece_count());
    // A replayer paid for 1/k of the file and got at most that, never k times it.
    assert!(r.peers > 0 && r.pieces_received > 0);
    assert!(r.pieces_received <= r.peers * pieces.div_ceil(k));
    assert!(r.paid <= r.peers * c.license.price.0 / k);
    assert_eq!(r.completed, 0);
}

#[test]
fn pirates_are_the_only_source_of_unpaid_bytes() {
    let s = run(&scenario("pirates")).summary;
    assert!(s.unpaid_bytes_served > 0);
    assert!(
        s.by_behaviour["free_rider"].completed > 0,
        "free-riders complete via pirates"
    );
    let pirate = &s.by_behaviour["pirate"];
    assert!(
        pirate.peers > 0 && pirate.paid > 0,
        "pirates pay for their own download"
    );
}

#[test]
fn a_fail_closed_verifier_outage_serves_nothing_new_and_the_swarm_recovers() {
    let c = scenario("faults");
    let r = run(&c);
    no_unpaid_service("faults", &r.summary);
    let v = c.faults.verifier_outages[0];
    let paid_at = |t: f64| {
        r.series
            .iter()
            .rev()
            .find(|s| s.t_s <= t)
            .map_or(0, |s| s.total_paid)
    };
    assert_eq!(
        paid_at(v.start + 1.0),
        paid_at(v.end - 1.0),
        "spends while down"
    );
    assert!(paid_at(v.end + 30.0) > paid_at(v.end), "spends resume");
    // Peers that arrived while the tracker was down found nobody until it returned.
    let t = c.faults.tracker_outages[0];
    let stranded: Vec<_> = r
        .downloads
        .iter()
        .filter(|d| d.arrived_s >= t.start && d.arrived_s < t.end)
        .collect();
    assert!(!stranded.is_empty());
    assert!(stranded.iter().all(|d| d.completed_s >= t.end));
}

#[test]
fn fail_open_credit_bounds_what_free_riders_get() {
    let c = scenario("fail_open");
    let s = run(&c).summary;
    let ilpt_sim::config::VerifierMode::FailOpen { credit } = c.faults.verifier_mode else {
        panic!("fail-open scenario");
    };
    let cheapest = c.license.price.0 / u64::from(c.layout.piece_count());
    let per_pair = credit.0 / cheapest;
    let riders = s.by_behaviour["free_rider"].peers;
    let bound = riders * c.peers.max_connections as u64 * per_pair * c.layout.piece_length();
    assert!(s.unpaid_bytes_served > 0, "free-riders use the credit");
    assert!(
        s.unpaid_bytes_served <= bound,
        "{} > {bound}",
        s.unpaid_bytes_served
    );
    assert_eq!(s.by_behaviour["free_rider"].completed, 0);
    books_balance("fail_open", &s, c.license.price.0);
}

/// A payer that withholds attestations and buys its pieces again through a key of its
/// own takes back some seeder shares, but never more than the rule's bound
/// (`ACK_WINDOW` per honest peer that served it); honest payers' sharers keep theirs.
#[test]
fn a_share_thiefs_take_is_bounded_by_the_window() {
    let c = scenario("share_thief");
    let s = run(&c).summary;
    books_balance("share_thief", &s, c.license.price.0);
    no_unpaid_service("share_thief", &s);
    let thief = &s.by_behaviour["share_thief"];
    assert!(thief.peers > 0 && thief.paid > 0, "thieves pay the price");
    println!(
        "share thieves: {} peers took {} of a bound of {}; honest seeders earned {}; forfeited {}",
        thief.peers,
        s.share_thief_take,
        s.share_thief_bound,
        s.by_behaviour["honest"].earned,
        s.forfeited
    );
    assert!(s.share_thief_take > 0, "the attack does something");
    assert!(
        s.share_thief_take <= s.share_thief_bound,
        "{} > {}",
        s.share_thief_take,
        s.share_thief_bound
    );
    // Their seeder shares are a fraction of what they paid: at most 20 % of it.
    assert!(s.share_thief_take * 5 <= i128::from(thief.paid));
    assert!(s.by_behaviour["honest"].earned > 0);
}
