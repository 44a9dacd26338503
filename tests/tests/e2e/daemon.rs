//! The daemon (`ilpt serve`): torrents added through its HTTP API survive a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::common::*;
use super::swarm::{seeder, start_reading_lines, tracker, Proc, LOCAL};

pub(crate) fn serve(state: &Path) -> (Proc, String) {
    serve_with(state, &[])
}

/// `ilpt serve` on `state` with `extra` flags; its process and API URL.
pub(crate) fn serve_with(state: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec![
        "serve",
        "--state-dir",
        state.to_str().unwrap(),
        "--api",
        "127.0.0.1:0",
        "--listen",
        LOCAL,
    ];
    args.extend_from_slice(extra);
    let (p, lines) = start_reading_lines(&mut ilpt(&args), 1);
    (
        p,
        lines[0]
            .strip_prefix("api listening on ")
            .unwrap()
            .to_owned(),
    )
}

pub(crate) fn torrents(api: &str) -> Vec<Value> {
    let v: Value = reqwest::blocking::get(format!("{api}/torrents"))
        .unwrap()
        .json()
        .unwrap();
    v["torrents"].as_array().unwrap().clone()
}

#[test]
fn daemon_resumes_both_torrents_added_through_its_api_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, url) = tracker();
    let mut seeds = Vec::new();
    let mut files = Vec::new();
    let mut adds = Vec::new();
    for (i, name) in ["one.bin", "two.bin"].iter().enumerate() {
        let data = dir.path().join(name);
        write_data(&data, 1_200_000, 20 + i as u64);
        let torrent = dir.path().join(format!("{name}.torrent"));
        let magnet = ilpt_ok(&[
            "create",
            data.to_str().unwrap(),
            "--out",
            torrent.to_str().unwrap(),
            "--piece-length",
            "16384",
            "--tracker",
            &url,
        ]);
        // Slow seeders, so the daemon is stopped half way.
        seeds.push(seeder(&torrent, &data, &["--upload-limit", "300000"]));
        files.push(data);
        adds.push(if i == 0 {
            json!({"magnet": magnet.trim()})
        } else {
            json!({"torrent": base64::engine::general_purpose::STANDARD.encode(std::fs::read(&torrent).unwrap())})
        });
    }
    let state = dir.path().join("state");
    let (daemon, api) = serve(&state);
    let c = reqwest::blocking::Client::new();
    // What a web page could send: another site's Origin, or a DNS name (rebinding).
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("host", "evil.example:7878"),
    ] {
        let r = c
            .post(format!("{api}/torrents"))
            .header(header, value)
            .json(&adds[0])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{header}: {value}");
    }
    assert!(
        torrents(&api).is_empty(),
        "a refused request added a torrent"
    );
    for body in &adds {
        let r = c.post(format!("{api}/torrents")).json(body).send().unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    }
    assert_eq!(
        c.post(format!("{api}/torrents"))
            .json(&adds[0])
            .send()
            .unwrap()
            .status()
            .as_u16(),
        400,
        "added twice"
    );
    // Wait until both have some verified pieces, then stop gracefully (SIGTERM).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = torrents(&api);
        if t.len() == 2 && t.iter().all(|t| t["pieces_have"].as_u64().unwrap_or(0) > 5) {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {t:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = daemon.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut daemon = daemon;
    let exit = daemon.0.wait().unwrap();
    assert!(exit.success(), "daemon did not stop cleanly: {exit}");

    let (_daemon2, api) = serve(&state);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let t = torrents(&api);
        assert_eq!(t.len(), 2, "both torrents are remembered: {t:?}");
        if t.iter().all(|t| t["complete"] == true) {
            assert!(
                t.iter()
                    .any(|t| t["resumed_pieces"].as_u64().unwrap_or(0) > 0),
                "nothing was resumed: {t:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not finish after restart: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    for f in &files {
        let name = f.file_name().unwrap();
        let copy = state.join("downloads").join(name);
        assert!(
            std::fs::read(copy).unwrap() == std::fs::read(f).unwrap(),
            "{name:?} differs"
        );
    }
    drop(seeds);
}

/// Stops a daemon with SIGTERM and waits for it.
fn stop(mut daemon: Proc) {
    let pid = daemon.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    daemon.0.wait().unwrap();
}

/// The names in a folder (none if it does not exist).
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_refused_torrent_leaves_no_state_and_no_data_behind() {
    let dir = tempfile::tempdir().unwrap();
    let creator = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let license = ilpt_tests::signed_license(
        &creator,
        "$wallet.example/creator",
        "http://127.0.0.1:9",
        500,
        ilpt_tests::usd2(),
    );
    // Four pieces of 16 KiB named licensed.bin (placeholder hashes: no data matches).
    let paid = ilpt_tests::license_torrent(license, 4);
    let ih = paid.metainfo.info_hash.to_hex();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&paid.bytes);
    let magnet = paid.metainfo.magnet().to_string();

    let state = dir.path().join("state");
    let remembered = state.join("torrents");
    let (daemon, api) = serve(&state);
    let c = reqwest::blocking::Client::new();
    let out = dir.path().join("dl");
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, b"x").unwrap();
    let add = |body: Value| {
        let r = c
            .post(format!("{api}/torrents"))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    for (case, body, why) in [
        (
            "no max_price",
            json!({"torrent": b64, "out": out}),
            "max_price",
        ),
        (
            "max_price below the price",
            json!({"torrent": b64, "out": out, "max_price": 499}),
            "more than max_price 499",
        ),
        (
            "magnet without max_price",
            json!({"magnet": magnet, "out": out}),
            "max_price",
        ),
        (
            "magnet priced above max_price",
            json!({"magnet": magnet, "out": out, "max_price": 10}),
            "more than max_price 10",
        ),
        (
            "no Interledger account to pay from",
            json!({"torrent": b64, "out": out, "max_price": 500}),
            "set ilp_connector and ilp_token_file in its config",
        ),
        (
            "magnet, no Interledger account to pay from",
            json!({"magnet": magnet, "out": out, "max_price": 500}),
            "set ilp_connector and ilp_token_file in its config",
        ),
        (
            "out is a file",
            json!({"torrent": b64, "out": a_file, "max_price": 500}),
            "needs it to be a folder",
        ),
        (
            "relative out",
            json!({"torrent": b64, "out": "dl", "max_price": 500}),
            "absolute path",
        ),
    ] {
        let (status, text) = add(body);
        assert_eq!(status, 400, "{case}: {text}");
        assert_eq!(names_in(&remembered), Vec::<String>::new(), "{case}");
        assert_eq!(names_in(&out), Vec::<String>::new(), "{case}");
        assert!(text.contains(why), "{case}: {text}");
    }
    assert!(torrents(&api).is_empty());

    // A start that fails late (data of the full length, but not the torrent's: it must
    // be bought) removes the state it wrote, and leaves the data that was there.
    std::fs::create_dir_all(&out).unwrap();
    let theirs = out.join("licensed.bin");
    std::fs::write(&theirs, vec![1u8; 4 * 16384]).unwrap();
    let (status, text) = add(json!({"torrent": b64, "out": out}));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("max-price"), "{text}");
    assert_eq!(names_in(&remembered), Vec::<String>::new());
    assert_eq!(names_in(&out), vec!["licensed.bin".to_owned()]);
    assert!(std::fs::read(&theirs).unwrap() == vec![1u8; 4 * 16384]);
    assert_eq!(
        c.delete(format!("{api}/torrents/{ih}"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404,
        "a refused torrent is not remembered"
    );

    // Nothing is resumed after a restart. State that does not resume (as an earlier
    // version's refusals left) can be removed.
    stop(daemon);
    let stale = "5".repeat(40);
    std::fs::write(remembered.join(format!("{stale}.json")), b"{not json").unwrap();
    let (_daemon, api) = serve(&state);
    assert!(torrents(&api).is_empty());
    let r = c.delete(format!("{api}/torrents/{stale}")).send().unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
    assert_eq!(names_in(&remembered), Vec::<String>::new());
}

#[test]
fn torrents_of_one_name_get_their_own_places_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, url) = tracker();
    let mut made = Vec::new();
    for i in 0..2u64 {
        let data = dir.path().join(format!("src{i}")).join("same.bin");
        write_data(&data, 300_000, 50 + i);
        let torrent = dir.path().join(format!("same{i}.torrent"));
        let magnet = ilpt_ok(&[
            "create",
            data.to_str().unwrap(),
            "--out",
            torrent.to_str().unwrap(),
            "--piece-length",
            "16384",
            "--tracker",
            &url,
        ]);
        let seed = seeder(&torrent, &data, &[]);
        made.push((data, torrent, magnet.trim().to_owned(), seed));
    }
    let state = dir.path().join("state");
    let (daemon, api) = serve(&state);
    let c = reqwest::blocking::Client::new();
    let wait = |api: &str, what: &str, done: &dyn Fn(&[Value]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let t = torrents(api);
            if done(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "{what}: {t:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The first by magnet: its place is chosen once its metadata arrives.
    let r = c
        .post(format!("{api}/torrents"))
        .json(&json!({"magnet": made[0].2}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    wait(&api, "no metadata", &|t| {
        t.len() == 1 && t[0]["metadata"] == true
    });
    let torrent = std::fs::read(&made[1].1).unwrap();
    let r = c
        .post(format!("{api}/torrents"))
        .json(&json!({"torrent": base64::engine::general_purpose::STANDARD.encode(torrent)}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    wait(&api, "not complete", &|t| {
        t.len() == 2 && t.iter().all(|t| t["complete"] == true)
    });
    let downloads = state.join("downloads");
    let places = [downloads.join("same.bin"), downloads.join("same (2).bin")];
    for ((data, ..), place) in made.iter().zip(&places) {
        assert!(
            std::fs::read(place).unwrap() == std::fs::read(data).unwrap(),
            "{} does not hold {}",
            place.display(),
            data.display()
        );
    }
    // After a restart the torrent file is placed at once and the magnet only once its
    // metadata comes again; each finds its data where it was, whole.
    stop(daemon);
    let (_daemon, api) = serve(&state);
    let t = wait(&api, "not resumed", &|t| {
        t.len() == 2 && t.iter().all(|t| t["complete"] == true)
    });
    for t in &t {
        assert_eq!(t["resumed_pieces"], t["piece_count"], "{t}");
    }
    for ((data, ..), place) in made.iter().zip(&places) {
        assert!(std::fs::read(place).unwrap() == std::fs::read(data).unwrap());
    }
}
