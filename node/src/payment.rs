//! Paying and checking payment: the payment rail a downloader pays through, and the
//! client of the license's verifier that every serving peer asks before a piece leaves.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use futures::future::BoxFuture;
use ilpt_protocol::{Amount, InfoHash, PublicKey};
use libp2p::PeerId;
use serde_json::{json, Value};

/// How long a serving peer waits for the verifier before refusing (fail closed).
pub const VERIFIER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a payment did: the receipts to credit, what arrived, and why it stopped short
/// (a partial payment is money moved: its receipts are credited all the same).
#[derive(Debug, Clone, Default)]
pub struct Payment {
    /// RFC 0039 receipts (base64) of what arrived.
    pub receipts: Vec<String>,
    /// What arrived, in the license's units.
    pub delivered: u64,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// The receipts are those of an earlier payment cut short (a crash), recovered:
    /// once they are credited, what is still missing is paid anew.
    pub recovered: bool,
}

/// A way to pay a payment pointer and get STREAM receipts for it.
pub trait PaymentRail: Send + Sync + std::fmt::Debug {
    /// Pays `amount` of `asset` to `pointer`. `key` names the payment (payer and
    /// torrent) across restarts: a rail that can, first recovers the receipts of an
    /// earlier payment under `key` that a crash cut short (then `recovered`).
    fn pay<'a>(
        &'a self,
        pointer: &'a str,
        amount: Amount,
        asset: &'a ilpt_protocol::Asset,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Payment>>;

    /// The receipts of the payment under `key` are credited: nothing is left to recover.
    fn settled(&self, _key: &str) {}
}

/// Why a licensed download cannot start without an Interledger account to pay from
/// (`cost`: the price as shown to the user). Seeding needs none.
pub fn no_account(cost: &str) -> String {
    format!(
        "this torrent costs {cost}, and this node has no Interledger account to pay it from: \
         pass --ilp-connector URL and --ilp-token-file FILE (ilpt serve: the ilp_connector and \
         ilp_token_file keys of its config)"
    )
}

/// Paying over Interledger: STREAM through our account at a connector (ILP-over-HTTP),
/// to the license's revenue-share pointer, queried through its verifier's SPSP proxy
/// (which asks the receiver for receipts).
///
/// Before money goes, the connection (the SPSP answer) is saved in a file of its own,
/// readable by us only: if the payment is cut short by a crash, the restart asks that
/// receiver for a receipt of everything the connection got and credits it (receipts
/// count the stream's total, so nothing that arrived is lost or paid twice), then pays
/// only what is still missing. The file goes once the receipts are credited.
#[derive(Debug, Clone)]
pub struct IlpRail {
    link: ilpt_ilp_io::link::HttpLink,
    /// The most to send, in our account's asset: required when it is not the
    /// license's.
    max_spend: Option<u64>,
    http: reqwest::Client,
    /// Where connections of payments under way are saved.
    payments: std::path::PathBuf,
}

/// A saved connection older than this is not asked again: its receipt nonce has
/// expired at the verifier (it lives 300 s by default), so its receipts would not count.
const RECOVERY_WINDOW: Duration = Duration::from_secs(290);

/// A payment under way, as saved.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedConnection {
    spsp: ilpt_interledger::spsp::SpspResponse,
    /// Seconds since the epoch.
    saved_at: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to `path` readable and writable by us only, replacing it.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// How long one Prepare may take on the wire.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(35);

impl IlpRail {
    /// A rail through the connector at `connector` (its ILP-over-HTTP URL), with our
    /// account's bearer token; payments under way are saved under `payments`.
    pub fn new(
        connector: &str,
        token: ilpt_ilp_io::link::Token,
        max_spend: Option<u64>,
        payments: std::path::PathBuf,
    ) -> Result<IlpRail> {
        Ok(IlpRail {
            link: ilpt_ilp_io::link::HttpLink::new(connector, token, PREPARE_TIMEOUT)?,
            max_spend,
            http: client(),
            payments,
        })
    }

    /// The file of the payment under `key` (made of hex and dashes by its callers).
    fn saved_path(&self, key: &str) -> std::path::PathBuf {
        let safe: String = key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        self.payments.join(format!("{safe}.json"))
    }

    /// The receipt of a payment under `key` cut short by a crash, if one was saved
    /// and its receiver still knows the connection.
    async fn recover(&self, key: &str) -> Option<String> {
        let path = self.saved_path(key);
        let saved: SavedConnection = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        if unix_now().saturating_sub(saved.saved_at) > RECOVERY_WINDOW.as_secs() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let receipt = ilpt_ilp_io::pay::latest_receipt(&self.link, &saved.spsp).await;
        let total = receipt
            .as_deref()
            .and_then(|r| ilpt_protocol::Receipt::decode(r).ok())
            .map_or(0, |r| r.total_received);
        tracing::info!(total, "recovered the receipt of a payment cut short");
        let receipt = receipt.filter(|_| total > 0)?;
        Some(base64::engine::general_purpose::STANDARD.encode(receipt))
    }

    /// Reads the token from `file`, or else from the `ILPT_ILP_TOKEN` environment
    /// variable (never from a flag's value: command lines are visible to every user).
    pub fn token(file: Option<&std::path::Path>) -> Result<ilpt_ilp_io::link::Token> {
        ilpt_ilp_io::link::Token::load(file, "ILPT_ILP_TOKEN", "--ilp-token-file")
            .map_err(|e| anyhow::anyhow!("ILP account: {e}"))
    }
}

impl PaymentRail for IlpRail {
    fn pay<'a>(
        &'a self,
        pointer: &'a str,
        amount: Amount,
        asset: &'a ilpt_protocol::Asset,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Payment>> {
        Box::pin(async move {
            use ilpt_ilp_io::pay::{ildcp, pay, PayOptions};
            if let Some(receipt) = self.recover(key).await {
                return Ok(Payment {
                    receipts: vec![receipt],
                    delivered: 0,
                    failure: None,
                    recovered: true,
                });
            }
            let account = ildcp(&self.link).await?;
            let license_asset = (asset.code().to_owned(), asset.scale());
            let ours = (account.asset_code.clone(), account.asset_scale);
            if ours != license_asset && self.max_spend.is_none() {
                bail!(
                    "our ILP account is in {}:{} and the torrent costs {}: pass --max-spend AMOUNT \
                     (in {}:{}) to pay across assets",
                    ours.0,
                    ours.1,
                    asset.format(amount),
                    ours.0,
                    ours.1
                );
            }
            let spsp = ilpt_ilp_io::spsp::query(&self.http, pointer).await?;
            if !spsp.receipts_enabled {
                bail!("the receiver at {pointer} does not give receipts: paying it would be unprovable");
            }
            // Saved before any money goes: a crash from here on loses no receipt.
            std::fs::create_dir_all(&self.payments)
                .with_context(|| format!("cannot create {}", self.payments.display()))?;
            let saved = serde_json::to_vec(&SavedConnection {
                spsp: spsp.clone(),
                saved_at: unix_now(),
            })?;
            write_private(&self.saved_path(key), &saved)
                .context("cannot save the payment's connection")?;
            let options = PayOptions {
                target: amount.0,
                max_source: self.max_spend,
                require_asset: Some(license_asset),
                min_rate: None,
                window: 20,
            };
            let b64 = |r: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(r);
            Ok(match pay(&self.link, &account, &spsp, &options).await {
                Ok(paid) => Payment {
                    receipts: paid.receipts.iter().map(|(_, r)| b64(r)).collect(),
                    delivered: paid.delivered,
                    failure: None,
                    recovered: false,
                },
                Err(f) => Payment {
                    receipts: f.paid.receipts.iter().map(|(_, r)| b64(r)).collect(),
                    delivered: f.paid.delivered,
                    failure: Some(f.error.to_string()),
                    recovered: false,
                },
            })
        })
    }

    fn settled(&self, key: &str) {
        let _ = std::fs::remove_file(self.saved_path(key));
    }
}

/// The most a verifier's answer may hold (a batch of spend answers is a few tens of KiB).
const MAX_VERIFIER_ANSWER: usize = 1 << 20;

/// A verifier's answer body, at most [`MAX_VERIFIER_ANSWER`] bytes: whoever runs the
/// verifier a license names cannot make a node buffer more.
async fn read_text(r: reqwest::Response) -> Result<String> {
    let body = ilpt_verifier::read_capped(r, MAX_VERIFIER_ANSWER)
        .await
        .context("the verifier's answer")?;
    String::from_utf8(body).map_err(|_| anyhow::anyhow!("the verifier's answer is not UTF-8"))
}

/// A verifier's answer to a request that must succeed: its body, or an error naming
/// what failed (`refused`), the status and what the verifier said.
async fn checked(r: reqwest::Response, refused: &str) -> Result<String> {
    let status = r.status();
    if !status.is_success() {
        bail!(
            "{refused} ({status}): {}",
            read_text(r).await.unwrap_or_default()
        );
    }
    read_text(r).await
}

/// A verifier's JSON answer, read as [`read_text`] does.
async fn read_json(r: reqwest::Response) -> Result<Value> {
    Ok(serde_json::from_str(&read_text(r).await?)?)
}

/// How long `ilpt payouts run` waits for a run to end.
const PAYOUT_RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

fn client() -> reqwest::Client {
    ilpt_verifier::http_client(|| reqwest::Client::builder().timeout(VERIFIER_TIMEOUT))
        .unwrap_or_default()
}

/// What the verifier said about a voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendResult {
    /// Charged (or already paid): serve the piece.
    Accepted,
    /// The payer's balance is short by this much.
    PaymentRequired(u64),
    /// The voucher is invalid, forged or reused.
    Refused(String),
    /// The verifier could not be asked (down, slow, failing): do not serve.
    Unavailable(String),
}

/// A client of one license's verifier.
#[derive(Debug, Clone)]
pub struct VerifierClient {
    base: String,
    http: reqwest::Client,
}

impl VerifierClient {
    /// A client of the verifier at `base`.
    pub fn new(base: &str) -> VerifierClient {
        VerifierClient {
            base: base.trim_end_matches('/').to_owned(),
            http: client(),
        }
    }

    /// Runs one payout now (`POST /payouts`); the payouts it made, as they ended.
    pub async fn run_payouts(&self, minimum: Option<u64>) -> Result<Value> {
        let body = match minimum {
            Some(m) => json!({"minimum": m.to_string()}),
            None => json!({}),
        };
        let r = self
            .http
            .post(format!("{}/payouts", self.base))
            .json(&body)
            // A run sends every payout due before it answers.
            .timeout(PAYOUT_RUN_TIMEOUT)
            .send()
            .await?;
        Ok(serde_json::from_str(
            &checked(r, "the payout run failed").await?,
        )?)
    }

    /// `GET {base}{path}`: the verifier's JSON answer, or an error with `refused` and
    /// what it said.
    async fn get_json(&self, path: &str, refused: &str) -> Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok(serde_json::from_str(&checked(r, refused).await?)?)
    }

    /// Payouts, newest first (`open`: only those not settled).
    pub async fn payouts(&self, open: bool, limit: u32) -> Result<Value> {
        self.get_json(
            &format!("/payouts?open={open}&limit={limit}"),
            "the verifier refused",
        )
        .await
    }

    /// One payout.
    pub async fn payout(&self, id: u64) -> Result<Value> {
        self.get_json(&format!("/payouts/{id}"), "the verifier refused")
            .await
    }

    /// Settles payout `id`, which a crash left unknown, as having delivered
    /// `delivered`: signed with the verifier operator's key.
    pub async fn resolve_payout(
        &self,
        id: u64,
        delivered: u64,
        operator: &ed25519_dalek::SigningKey,
    ) -> Result<Value> {
        let p = self.payout(id).await?;
        let party: PublicKey = p["party"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .context("the verifier's payout names no party")?;
        let amount: u64 = p["amount"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .context("the verifier's payout has no amount")?;
        let message =
            ilpt_protocol::account::payout_resolution_message(id, &party, amount, delivered);
        let signature = ed25519_dalek::Signer::sign(operator, &message).to_bytes();
        let r = self
            .http
            .post(format!("{}/payouts/{id}/resolve", self.base))
            .json(&json!({
                "delivered": delivered.to_string(),
                "signature": data_encoding::HEXLOWER.encode(&signature),
            }))
            .send()
            .await?;
        Ok(serde_json::from_str(
            &checked(r, "the verifier refused the resolution").await?,
        )?)
    }

    /// Registers a torrent's license (idempotent; the info dictionary proves itself).
    pub async fn register(&self, ih: InfoHash, info_bytes: Vec<u8>) -> Result<()> {
        let r = self
            .http
            .put(format!("{}/licenses/{ih}", self.base))
            .body(info_bytes)
            .send()
            .await?;
        checked(r, "the verifier refused the license").await?;
        Ok(())
    }

    /// Credits a receipt to `payer`'s balance on the license.
    pub async fn credit(&self, ih: InfoHash, payer: &PublicKey, receipt: &str) -> Result<u64> {
        let r = self
            .http
            .post(format!("{}/licenses/{ih}/credit", self.base))
            .json(&json!({"payer": payer, "receipt": receipt}))
            .send()
            .await?;
        let body = checked(r, "the verifier did not credit the receipt").await?;
        let v: Value = serde_json::from_str(&body)?;
        Ok(v["balance"]
            .as_str()
            .and_then(|b| b.parse().ok())
            .unwrap_or(0))
    }

    /// The payer's balance and what it has been charged on the license.
    pub async fn payer_state(&self, ih: InfoHash, payer: &PublicKey) -> Result<(u64, u64)> {
        let r = self
            .http
            .get(format!("{}/licenses/{ih}/payers/{payer}", self.base))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the verifier does not know this license ({})", r.status());
        }
        let v: Value = read_json(r).await?;
        let n = |k: &str| v[k].as_str().and_then(|x| x.parse().ok()).unwrap_or(0u64);
        Ok((n("balance"), n("charged")))
    }

    /// Spends several vouchers in one call (and one commit at the verifier), handing
    /// over the payers' newest delivery attestations with them; one answer per voucher,
    /// in order. A failed call answers `Unavailable` for all of them (and the
    /// attestations are lost: later ones cover them, they are cumulative).
    pub async fn spend_batch(
        &self,
        ih: InfoHash,
        vouchers: Vec<String>,
        attestations: Vec<String>,
    ) -> Vec<SpendResult> {
        let n = vouchers.len();
        let unavailable = |why: String| vec![SpendResult::Unavailable(why); n];
        let sent = self
            .http
            .post(format!("{}/licenses/{ih}/spend-batch", self.base))
            .json(&json!({"vouchers": vouchers, "attestations": attestations}))
            .send()
            .await;
        let r = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return unavailable(format!("verifier answered {}", r.status())),
            Err(e) => return unavailable(e.to_string()),
        };
        let Ok(v) = read_json(r).await else {
            return unavailable("unreadable batch answer".into());
        };
        for a in v["attestations"].as_array().into_iter().flatten() {
            if a["status"].as_u64() != Some(200) {
                tracing::warn!("the verifier refused a delivery attestation: {}", a["body"]);
            }
        }
        let answers = v["answers"].as_array().cloned().unwrap_or_default();
        if answers.len() != n {
            return unavailable("batch answer has the wrong length".into());
        }
        answers
            .iter()
            .map(|a| match a["status"].as_u64() {
                Some(200) => SpendResult::Accepted,
                Some(402) => SpendResult::PaymentRequired(
                    a["body"]["missing"]
                        .as_str()
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(0),
                ),
                Some(400..=499) => {
                    SpendResult::Refused(a["body"]["error"].as_str().unwrap_or_default().to_owned())
                }
                _ => SpendResult::Unavailable(format!("verifier answered {}", a["status"])),
            })
            .collect()
    }

    /// Hands a delivery attestation to the verifier directly (a payer settling what
    /// peers that went away delivered).
    pub async fn attest(&self, ih: InfoHash, attestation: String) -> Result<()> {
        self.post_signed(ih, "attest", "attestation", attestation)
            .await
    }

    /// Tells the verifier that the payer banned a payee (a signed revocation): its
    /// further spends of the payer's vouchers are refused.
    pub async fn revoke(&self, ih: InfoHash, revocation: String) -> Result<()> {
        self.post_signed(ih, "revoke", "revocation", revocation)
            .await
    }

    /// POSTs `{field: signed}` to the license's `route`; a refusal is an error naming
    /// what was refused.
    async fn post_signed(
        &self,
        ih: InfoHash,
        route: &str,
        field: &str,
        signed: String,
    ) -> Result<()> {
        let r = self
            .http
            .post(format!("{}/licenses/{ih}/{route}", self.base))
            .json(&json!({ field: signed }))
            .send()
            .await?;
        checked(r, &format!("the verifier refused the {field}")).await?;
        Ok(())
    }

    /// Opens a revenue-share account for `request`, signed with the creator's key;
    /// answers the verifier's JSON (`id`, and `pointer`: the payment pointer licenses
    /// name).
    pub async fn open_revshare(
        &self,
        request: &ilpt_protocol::account::RevShareRequest,
        creator: &ed25519_dalek::SigningKey,
    ) -> Result<Value> {
        let signature = data_encoding::HEXLOWER.encode(&request.sign(creator));
        let r = self
            .http
            .post(format!("{}/revshare", self.base))
            .json(&json!({
                "payout_pointer": request.payout_pointer,
                "creator_share_bps": request.creator_share.get(),
                "asset_code": request.asset.code(),
                "asset_scale": request.asset.scale(),
                "creator_key": request.creator_key,
                "signature": signature,
            }))
            .send()
            .await?;
        let body = checked(r, "the verifier refused the account").await?;
        Ok(serde_json::from_str(&body)?)
    }

    /// A revenue-share account's terms and totals, by id or pointer.
    pub async fn revshare(&self, id: &str) -> Result<Value> {
        let r = self
            .http
            .get(format!("{}/revshare/{id}", self.base))
            .send()
            .await?;
        let body = checked(r, "the verifier did not show the account").await?;
        Ok(serde_json::from_str(&body)?)
    }

    /// Sets where `party`'s earnings from serving are paid, signed with its key.
    pub async fn set_payout_pointer(
        &self,
        party: &ed25519_dalek::SigningKey,
        pointer: &str,
    ) -> Result<()> {
        let key = PublicKey::from(party.verifying_key());
        let signature = ilpt_protocol::account::sign_payout_pointer(party, pointer);
        let r = self
            .http
            .put(format!("{}/parties/{key}/pointer", self.base))
            .json(&json!({
                "pointer": pointer,
                "signature": data_encoding::HEXLOWER.encode(&signature),
            }))
            .send()
            .await?;
        checked(r, "the verifier refused the payout pointer").await?;
        Ok(())
    }

    /// The verifier's collection wallet and the asset it takes (`GET /collection`).
    pub async fn collection(&self) -> Result<Value> {
        self.get_json("/collection", "the verifier has no collection wallet")
            .await
    }

    /// A party's earnings.
    pub async fn earnings(&self, party: &PublicKey) -> Result<Value> {
        self.get_json(&format!("/earnings/{party}"), "the verifier refused")
            .await
    }
}

/// The ed25519 key inside a libp2p peer id (our peers' ids always embed one).
pub fn peer_key(peer: &PeerId) -> Option<PublicKey> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    PublicKey::from_bytes(&ed.to_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_embed_the_node_key() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let kp = libp2p::identity::Keypair::ed25519_from_bytes(key.to_bytes()).unwrap();
        let peer = kp.public().to_peer_id();
        assert_eq!(peer_key(&peer), Some(PublicKey::from(key.verifying_key())));
    }
}
