//! `ilpt inspect`: what a torrent file or magnet link holds, for people or as JSON.

use anyhow::{Context, Result};
use clap::Args;
use ilpt_protocol::{License, Magnet, Metainfo};
use serde_json::{json, Value};

use crate::units;

/// Arguments of `ilpt inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A .torrent file, or a magnet link (quote it in the shell).
    pub target: String,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Reads a `.torrent` file with a clear error for missing, huge or malformed files.
pub fn read_torrent(path: &std::path::Path) -> Result<Metainfo> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > ilpt_protocol::metainfo::MAX_TORRENT_LEN as u64 {
        anyhow::bail!(
            "{} is {} — too large to be a torrent file",
            path.display(),
            units::bytes(meta.len())
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid torrent", path.display()))
}

/// Runs `ilpt inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    let value = if args.target.to_ascii_lowercase().starts_with("magnet:") {
        let magnet: Magnet = args.target.parse()?;
        magnet_json(&magnet)
    } else {
        torrent_json(&read_torrent(std::path::Path::new(&args.target))?)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", summary(&value));
    }
    Ok(())
}

fn license_json(l: &License) -> Value {
    json!({
        "pointer": l.pointer,
        "verifier": l.verifier,
        "price": l.price.0,
        "asset_code": l.asset.code(),
        "asset_scale": l.asset.scale(),
        "creator_share_bps": l.creator_share.get(),
        "creator_key": l.creator.to_hex(),
    })
}

/// The JSON form of a torrent (the contract of `ilpt inspect --json`).
pub fn torrent_json(m: &Metainfo) -> Value {
    let files: Vec<Value> = m
        .info
        .files()
        .iter()
        .map(|f| {
            let mut v = json!({ "path": f.path.join("/"), "length": f.length });
            if f.pad {
                v["pad"] = json!(true);
            }
            v
        })
        .collect();
    json!({
        "source": "torrent",
        "info_hash": m.info_hash.to_hex(),
        "name": m.info.name,
        "total_length": m.info.total_length(),
        "piece_length": m.info.piece_length,
        "piece_count": m.info.piece_count(),
        "files": files,
        "trackers": m.trackers,
        "private": m.info.private,
        "comment": m.comment,
        "created_by": m.created_by,
        "creation_date": m.creation_date,
        "magnet": m.magnet().to_string(),
        "license": m.info.license.as_ref().map(license_json),
        "license_signature": m.license_signature(),
    })
}

/// The JSON form of a magnet link: only what the link carries. License fields are the
/// link's unsigned hints (null where absent), checked later against the metadata.
pub fn magnet_json(m: &Magnet) -> Value {
    let h = &m.hints;
    let license = (!h.is_empty()).then(|| {
        json!({
            "pointer": h.pointer,
            "verifier": h.verifier,
            "price": h.price.map(|p| p.0),
            "asset_code": h.asset.as_ref().map(|a| a.code().to_owned()),
            "asset_scale": h.asset.as_ref().map(|a| a.scale()),
            "creator_share_bps": null,
            "creator_key": null,
        })
    });
    json!({
        "source": "magnet",
        "info_hash": m.info_hash.to_hex(),
        "name": m.name,
        "total_length": null,
        "piece_length": null,
        "piece_count": null,
        "files": null,
        "trackers": m.trackers,
        "peers": m.peers,
        "magnet": m.to_string(),
        "license": license,
        "license_signature": "absent",
    })
}

fn summary(v: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let _ = writeln!(out, "Name:       {}", s(&v["name"]));
    let _ = writeln!(out, "Info-hash:  {}", s(&v["info_hash"]));
    if let (Some(total), Some(pl), Some(n)) = (
        v["total_length"].as_u64(),
        v["piece_length"].as_u64(),
        v["piece_count"].as_u64(),
    ) {
        let _ = writeln!(
            out,
            "Size:       {} in {n} pieces of {}",
            units::bytes(total),
            units::bytes(pl)
        );
    }
    if let Some(files) = v["files"].as_array() {
        let real: Vec<&Value> = files
            .iter()
            .filter(|f| f["pad"].as_bool() != Some(true))
            .collect();
        let _ = writeln!(out, "Files:      {}", real.len());
        for f in real.iter().take(20) {
            let _ = writeln!(
                out,
                "  {}  ({})",
                s(&f["path"]),
                units::bytes(f["length"].as_u64().unwrap_or(0))
            );
        }
        if real.len() > 20 {
            let _ = writeln!(out, "  … and {} more", real.len() - 20);
        }
    }
    if v["private"].as_bool() == Some(true) {
        let _ = writeln!(out, "Private:    yes");
    }
    for t in v["trackers"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "Tracker:    {}", s(t));
    }
    match &v["license"] {
        Value::Null => {
            let _ = writeln!(out, "License:    none (free torrent)");
        }
        l => {
            let price = l["price"].as_u64();
            let asset = match (l["asset_code"].as_str(), l["asset_scale"].as_u64()) {
                (Some(code), Some(scale)) => u8::try_from(scale)
                    .ok()
                    .and_then(|sc| ilpt_protocol::Asset::new(code, sc).ok()),
                _ => None,
            };
            let price_text = match (price, &asset) {
                (Some(p), Some(a)) => {
                    format!("{} ({p} units of {a})", a.format(ilpt_protocol::Amount(p)))
                }
                (Some(p), None) => format!("{p} units"),
                _ => "unknown".into(),
            };
            let from_magnet = v["source"] == "magnet";
            let _ = writeln!(
                out,
                "Price:      {price_text}{}",
                if from_magnet {
                    "  (magnet hint, not yet verified)"
                } else {
                    ""
                }
            );
            let _ = writeln!(out, "Pay to:     {}", s(&l["pointer"]));
            let _ = writeln!(out, "Verifier:   {}", s(&l["verifier"]));
            if let Some(bps) = l["creator_share_bps"].as_u64() {
                let _ = writeln!(
                    out,
                    "Split:      {}.{:02}% to the creator, the rest to the peer that serves",
                    bps / 100,
                    bps % 100
                );
            }
            if !from_magnet {
                let _ = writeln!(out, "Creator:    {}", s(&l["creator_key"]));
                let _ = writeln!(out, "Signature:  {}", s(&v["license_signature"]));
            }
        }
    }
    let _ = writeln!(out, "Magnet:     {}", s(&v["magnet"]));
    out
}
