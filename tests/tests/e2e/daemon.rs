//! The daemon (`ilpt serve`): torrents added through its HTTP API survive a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::common::*;
use super::swarm::{seeder, start_reading_lines, tracker, Proc, LOCAL};

pub(crate) fn serve(state: &Path) -> (Proc, String) {
    let args = [
        "serve",
        "--state-dir",
        state.to_str().unwrap(),
        "--api",
        "127.0.0.1:0",
        "--listen",
        LOCAL,
    ];
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
