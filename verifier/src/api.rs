//! The HTTP API. Reference-compatible routes (`/balances/{id}:creditReceipt`,
//! `/balances/{id}:spend`, `/receipts`, `/verify`) answer in plain text as
//! interledger/receipt-verifier does; ILP Torrent's own routes answer JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ilpt_protocol::{InfoHash, PublicKey};
use serde_json::{json, Value};

use crate::ledger::{self, LedgerError, ReceiptSeed, RevShare};
use crate::sigcheck::SignatureChecker;
use crate::writer::Writer;

/// Largest receipt body (a 58-byte receipt is 80 base64 characters), as the reference.
pub const MAX_RECEIPT_BODY: usize = 80;
/// Largest spend-amount body (i64::MAX has 19 digits).
pub const MAX_AMOUNT_BODY: usize = 19;
/// Largest JSON body of our own routes.
pub const MAX_JSON_BODY: usize = 16 * 1024;
/// How long a license registration's body may take to arrive.
pub const LICENSE_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Largest info dictionary accepted for license registration.
pub const MAX_INFO_BODY: usize = ilpt_protocol::metainfo::MAX_INFO_LEN;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The ledger writer.
    pub writer: Writer,
    /// The voucher signature checker.
    pub signatures: SignatureChecker,
    /// The receipt seed.
    pub seed: ReceiptSeed,
    /// Receipt nonce lifetime, seconds.
    pub receipt_ttl: u64,
    /// Base URL this verifier is reached at (for the pointers it hands out).
    pub public_url: String,
    /// The operator's connector account payouts are sent from (`None`: payouts
    /// answer 501).
    pub payouts: Option<crate::payout::PayoutRail>,
    /// The smallest payout a run sends (what is owed below it waits).
    pub payout_minimum: u64,
    /// The operator's key, which signs resolutions of payouts left unknown.
    pub operator_key: Option<PublicKey>,
    /// The operator's wallet where revenue-share payments are collected (Interledger rail).
    pub collection_pointer: Option<String>,
    /// The asset that wallet takes (prices in another are refused).
    pub collection_asset: crate::collection::CollectionAsset,
    /// HTTP client for SPSP queries to receivers.
    pub http: reqwest::Client,
    /// Whether the SPSP proxy may query plain-http receivers (local testing).
    pub allow_http_receivers: bool,
    /// Bounds how many license registrations are read and parsed at once.
    pub license_parses: tokio::sync::Semaphore,
    /// The charging rule's time windows.
    pub windows: ilpt_protocol::charging::Windows,
}

impl AppState {
    /// Refuses `asset` (of `what`) when the collection wallet takes another one.
    async fn check_collection_asset(
        &self,
        asset: &ilpt_protocol::Asset,
        what: &str,
    ) -> Result<(), LedgerError> {
        match &self.collection_pointer {
            Some(pointer) => {
                self.collection_asset
                    .check(&self.http, pointer, asset, what)
                    .await
            }
            None => Ok(()),
        }
    }
}

/// `GET /collection`: the operator's collection wallet and the asset it takes (what
/// `ilpt create` checks a price against). 404 without a collection wallet; the asset
/// fields are null when it is not known.
async fn get_collection(State(s): State<Arc<AppState>>) -> Result<Json<Value>, LedgerError> {
    let Some(pointer) = &s.collection_pointer else {
        return Err(LedgerError::NotFound(
            "this verifier has no collection wallet (--collection-pointer)".into(),
        ));
    };
    let asset = s.collection_asset.get(&s.http, pointer).await?;
    Ok(Json(json!({
        "pointer": pointer,
        "asset_code": asset.as_ref().map(|a| a.code()),
        "asset_scale": asset.as_ref().map(|a| a.scale()),
    })))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl IntoResponse for LedgerError {
    fn into_response(self) -> Response {
        let status = match &self {
            LedgerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            LedgerError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            LedgerError::Forbidden(_) => StatusCode::FORBIDDEN,
            LedgerError::NotFound(_) => StatusCode::NOT_FOUND,
            LedgerError::Conflict(_) => StatusCode::CONFLICT,
            LedgerError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            LedgerError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            LedgerError::Upstream(_) => StatusCode::BAD_GATEWAY,
            LedgerError::Storage(_) | LedgerError::Unavailable(_) => {
                tracing::error!("{self}");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable, try again",
                )
                    .into_response();
            }
        };
        if let LedgerError::PaymentRequired { missing, balance } = &self {
            let body = json!({"error": "insufficient balance", "missing": missing.to_string(), "balance": balance.to_string()});
            return (status, Json(body)).into_response();
        }
        (status, self.to_string()).into_response()
    }
}

fn bad(msg: impl Into<String>) -> LedgerError {
    LedgerError::BadRequest(msg.into())
}

fn text_body(body: &Bytes) -> Result<&str, LedgerError> {
    std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8 text"))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, LedgerError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/balances/{action}",
            post(balances)
                .get(get_balance)
                .layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY)),
        )
        .route(
            "/receipts",
            post(verify_receipt).layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY)),
        )
        .route(
            "/verify",
            post(verify_receipt).layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY)),
        )
        .route(
            "/revshare",
            post(create_revshare).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/revshare/{id}", get(get_revshare))
        .route(
            "/licenses/{info_hash}",
            put(register_license).layer(DefaultBodyLimit::max(MAX_INFO_BODY)),
        )
        .route(
            "/licenses/{info_hash}/spend",
            post(spend_voucher).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/licenses/{info_hash}/spend-batch",
            post(spend_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/licenses/{info_hash}/attest",
            post(attest).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/licenses/{info_hash}/revoke",
            post(revoke).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/licenses/{info_hash}/credit",
            post(credit_license).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/licenses/{info_hash}/payers/{payer}", get(get_payer))
        .route("/earnings/{party}", get(get_earnings))
        .route(
            "/parties/{party}/pointer",
            put(set_payout_pointer).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/payouts",
            post(run_payouts)
                .get(list_payouts)
                .layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/payouts/{id}", get(get_payout))
        .route(
            "/payouts/{id}/resolve",
            post(resolve_payout).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/audit", get(audit))
        .route("/collection", get(get_collection))
        .route("/spsp/{id}", get(crate::spsp::proxy_account))
        // The reference verifier's generic SPSP proxy: any other GET path is a payment
        // pointer.
        .route("/{*pointer}", get(crate::spsp::proxy_pointer))
        .with_state(state)
}

async fn balances(
    State(s): State<Arc<AppState>>,
    Path(action): Path<String>,
    body: Bytes,
) -> Result<String, LedgerError> {
    let (id, verb) = action.rsplit_once(':').ok_or_else(|| {
        LedgerError::NotFound(
            "expected /balances/{id}:creditReceipt or /balances/{id}:spend".into(),
        )
    })?;
    if id.is_empty() || id.len() > 256 {
        return Err(bad("balance id must be 1 to 256 characters"));
    }
    let id = id.to_owned();
    match verb {
        "creditReceipt" => {
            let receipt = text_body(&body)?.trim().to_owned();
            let (seed, now) = (s.seed.clone(), now());
            let balance = s
                .writer
                .run(move |c| ledger::credit_receipt(c, &seed, &id, &receipt, None, now))
                .await?;
            Ok(balance.to_string())
        }
        "spend" => {
            if body.len() > MAX_AMOUNT_BODY {
                return Err(bad(
                    "spend amount: expected a decimal integer of at most 19 digits",
                ));
            }
            let text = text_body(&body)?.trim();
            let amount: u64 = text.parse().map_err(|_| {
                bad(format!(
                    "spend amount: expected a positive decimal integer, found {text:?}"
                ))
            })?;
            let now = now();
            let remaining = s
                .writer
                .run(move |c| ledger::spend_balance(c, &id, amount, now))
                .await?;
            Ok(remaining.to_string())
        }
        other => Err(LedgerError::NotFound(format!(
            "unknown balance action {other:?}"
        ))),
    }
}

async fn get_balance(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<String, LedgerError> {
    let balance = s.writer.run(move |c| ledger::balance(c, &id)).await?;
    balance
        .map(|b| b.to_string())
        .ok_or_else(|| LedgerError::NotFound("balance does not exist".into()))
}

async fn verify_receipt(
    State(s): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, LedgerError> {
    let receipt = text_body(&body)?.trim().to_owned();
    let (seed, now) = (s.seed.clone(), now());
    let (amount, pointer, _) = s
        .writer
        .run(move |c| ledger::accept_receipt(c, &seed, &receipt, now))
        .await?;
    if amount == 0 {
        return Err(bad("expired receipt"));
    }
    Ok(Json(json!({"amount": amount.to_string(), "spspEndpoint": pointer})).into_response())
}

#[derive(serde::Deserialize)]
struct NewRevShare {
    payout_pointer: String,
    creator_share_bps: u64,
    asset_code: String,
    asset_scale: u8,
    creator_key: PublicKey,
    /// Hex of the creator key's 64-byte signature of the request
    /// ([`ilpt_protocol::account::RevShareRequest::message`]).
    signature: String,
}

/// A 64-byte Ed25519 signature from its 128 hex digits.
fn parse_signature(hex: &str) -> Result<[u8; 64], LedgerError> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("signature: expected 128 hex characters"))
}

async fn create_revshare(
    State(s): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, LedgerError> {
    let req: NewRevShare = json_body(&body)?;
    ilpt_protocol::license::validate_pointer(&req.payout_pointer)
        .map_err(|e| bad(format!("payout_pointer: {e}")))?;
    let share = ilpt_protocol::Bps::new(req.creator_share_bps).map_err(|e| bad(e.to_string()))?;
    let asset = ilpt_protocol::Asset::new(&req.asset_code, req.asset_scale)
        .map_err(|e| bad(e.to_string()))?;
    let signature = parse_signature(&req.signature)?;
    let signed = ilpt_protocol::account::RevShareRequest {
        payout_pointer: req.payout_pointer.clone(),
        creator_share: share,
        asset: asset.clone(),
        creator_key: req.creator_key,
    };
    if !signed.verify(&signature) {
        return Err(LedgerError::Forbidden(
            "signature does not verify against the creator key: a revenue-share account \
             is opened only with its creator's signature of its terms"
                .into(),
        ));
    }
    s.check_collection_asset(&asset, "the account").await?;
    let id = random_hex::<16>().map_err(bad)?;
    let account = RevShare {
        pointer: format!("{}/spsp/{id}", s.public_url.trim_end_matches('/')),
        id,
        payout_pointer: req.payout_pointer,
        creator_share_bps: share.get(),
        asset_code: asset.code().to_owned(),
        asset_scale: asset.scale(),
        creator_key: req.creator_key,
    };
    let reply = json!({"id": account.id, "pointer": account.pointer});
    let now = now();
    s.writer
        .run(move |c| ledger::create_revshare(c, &account, now))
        .await?;
    Ok((StatusCode::CREATED, Json(reply)).into_response())
}

/// `N` random bytes as lower-case hex.
pub fn random_hex<const N: usize>() -> Result<String, String> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(data_encoding::HEXLOWER.encode(&bytes))
}

async fn get_revshare(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, LedgerError> {
    Ok(Json(
        s.writer
            .run(move |c| ledger::revshare_totals(c, &id))
            .await?,
    ))
}

fn parse_info_hash(text: &str) -> Result<InfoHash, LedgerError> {
    text.parse()
        .map_err(|e: ilpt_protocol::info_hash::InfoHashError| bad(e.to_string()))
}

fn parse_party(text: &str) -> Result<PublicKey, LedgerError> {
    text.parse()
        .map_err(|e: ilpt_protocol::keys::KeyError| bad(e.to_string()))
}

async fn register_license(
    State(s): State<Arc<AppState>>,
    Path(info_hash): Path<String>,
    body: axum::body::Body,
) -> Result<Response, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    // A few registrations at a time: each buffers up to MAX_INFO_BODY and hashes it.
    let _permit = s
        .license_parses
        .acquire()
        .await
        .map_err(|_| LedgerError::Unavailable("the verifier is stopping".into()))?;
    // A client that trickles its body would hold a permit: it gets so long.
    let read = tokio::time::timeout(
        LICENSE_READ_TIMEOUT,
        axum::body::to_bytes(body, MAX_INFO_BODY),
    );
    let Ok(read) = read.await else {
        return Ok((
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the info dictionary did not arrive within {} s",
                LICENSE_READ_TIMEOUT.as_secs()
            ),
        )
            .into_response());
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(e) if too_large(&e) => {
            return Ok((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the info dictionary is larger than {MAX_INFO_BODY} bytes"),
            )
                .into_response())
        }
        Err(e) => return Err(bad(format!("cannot read the info dictionary: {e}"))),
    };
    // Hashing and parsing megabytes of piece hashes runs off the async threads and
    // off the ledger writer; only the short insert runs on the writer.
    let parsed = tokio::task::spawn_blocking(move || ledger::parse_license(info_hash, &bytes))
        .await
        .map_err(|e| LedgerError::Unavailable(format!("license check failed: {e}")))??;
    s.check_collection_asset(&parsed.license.asset, "the license's price")
        .await?;
    let stored = s
        .writer
        .run(move |c| ledger::store_license(c, &parsed))
        .await?;
    Ok(Json(stored).into_response())
}

/// True if reading a body failed because it was longer than the limit.
fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

#[derive(serde::Deserialize)]
struct SpendRequest {
    voucher: String,
    #[serde(default)]
    receipts: Vec<String>,
}

async fn spend_voucher(
    State(s): State<Arc<AppState>>,
    Path(info_hash): Path<String>,
    body: Bytes,
) -> Result<Response, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    let req: SpendRequest = json_body(&body)?;
    // Checked in a batch with other requests' vouchers (see `sigcheck`).
    let signed = ledger::decode_voucher(&req.voucher)?;
    let answer = s
        .signatures
        .check(vec![signed])
        .await
        .map_err(|e| LedgerError::Unavailable(e.to_string()))?
        .pop()
        .ok_or_else(|| LedgerError::Unavailable("voucher was not checked".into()))?;
    let voucher = ledger::VerifiedVoucher::checked(answer)?;
    let (seed, now, windows) = (s.seed.clone(), now(), s.windows);
    let answer = s
        .writer
        .run(move |c| {
            ledger::spend_voucher(c, &seed, info_hash, &voucher, &req.receipts, now, &windows)
        })
        .await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    Ok((status, Json(answer.body)).into_response())
}

#[derive(serde::Deserialize)]
struct CreditRequest {
    payer: PublicKey,
    receipt: String,
}

/// `POST /licenses/{info_hash}/credit`: credits a receipt to a payer's balance on a
/// license; the receipt's nonce must have been issued for the license's pointer.
async fn credit_license(
    State(s): State<Arc<AppState>>,
    Path(info_hash): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    let req: CreditRequest = json_body(&body)?;
    let (seed, now) = (s.seed.clone(), now());
    let balance = s
        .writer
        .run(move |c| {
            let pointer = ledger::license_pointer(c, info_hash)?;
            let id = ledger::license_balance_id(info_hash, &req.payer);
            ledger::credit_receipt(c, &seed, &id, &req.receipt, Some(&pointer), now)
        })
        .await?;
    Ok(Json(json!({"balance": balance.to_string()})))
}

async fn get_payer(
    State(s): State<Arc<AppState>>,
    Path((info_hash, payer)): Path<(String, String)>,
) -> Result<Json<Value>, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    let payer = parse_party(&payer)?;
    Ok(Json(
        s.writer
            .run(move |c| ledger::payer_state(c, info_hash, &payer))
            .await?,
    ))
}

/// The most vouchers one batch may carry.
pub const MAX_BATCH_VOUCHERS: usize = 64;
/// The most attestations one batch may carry.
pub const MAX_BATCH_ATTESTATIONS: usize = 4;
/// Largest batch body: its vouchers and its attestations (an attestation of the
/// largest torrent is some 70 KB of base64).
pub const MAX_BATCH_BODY: usize = MAX_JSON_BODY
    + MAX_BATCH_ATTESTATIONS * ilpt_protocol::delivery::MAX_ATTESTATION_LEN.div_ceil(3) * 4;

#[derive(serde::Deserialize)]
struct BatchRequest {
    #[serde(default)]
    vouchers: Vec<String>,
    /// Delivery attestations the serving peer received from its payers.
    #[serde(default)]
    attestations: Vec<String>,
}

/// `POST /licenses/{info_hash}/spend-batch`: several vouchers, and the serving peer's
/// newest delivery attestations, in one call and one commit. Attestations are recorded
/// first (they settle shares the vouchers' decisions may look at); each voucher and
/// each attestation gets its own answer, exactly as `/spend` and `/attest` would give
/// it; one refused item changes nothing for the others.
async fn spend_batch(
    State(s): State<Arc<AppState>>,
    Path(info_hash): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    let req: BatchRequest = json_body(&body)?;
    if req.vouchers.len() > MAX_BATCH_VOUCHERS {
        return Err(bad(format!(
            "at most {MAX_BATCH_VOUCHERS} vouchers per batch"
        )));
    }
    if req.attestations.len() > MAX_BATCH_ATTESTATIONS {
        return Err(bad(format!(
            "at most {MAX_BATCH_ATTESTATIONS} attestations per batch"
        )));
    }
    // The caller batched these already: one batch equation here, in this handler,
    // rather than another thread hop (single vouchers of /spend go to the checker
    // thread, where concurrent requests batch up).
    // A refused signature's answer is made here, once: the writer may run its closure
    // twice.
    let checked: Vec<Result<ledger::VerifiedVoucher, Value>> =
        ledger::VerifiedVoucher::check_all(&req.vouchers)
            .into_iter()
            .map(|v| v.map_err(|e| answer_json(Err(e))))
            .collect();
    let attestations: Vec<Result<ledger::VerifiedAttestation, Value>> = req
        .attestations
        .iter()
        .map(|a| ledger::VerifiedAttestation::check(a).map_err(|e| answer_json(Err(e))))
        .collect();
    let (seed, now, windows) = (s.seed.clone(), now(), s.windows);
    let (attested, answers) = s
        .writer
        .run(move |c| {
            let mut attested = Vec::with_capacity(attestations.len());
            for a in &attestations {
                attested.push(match a {
                    Ok(a) => match ledger::in_savepoint(c, |c| {
                        ledger::attest(c, info_hash, a, now, &windows)
                    })? {
                        Ok(body) => json!({"status": 200, "body": body}),
                        Err(e) => answer_json(Err(e)),
                    },
                    Err(refused) => refused.clone(),
                });
            }
            let mut out = Vec::with_capacity(checked.len());
            for v in &checked {
                out.push(match v {
                    Ok(v) => answer_json(ledger::in_savepoint(c, |c| {
                        ledger::spend_voucher(c, &seed, info_hash, v, &[], now, &windows)
                    })?),
                    Err(refused) => refused.clone(),
                });
            }
            Ok((attested, out))
        })
        .await?;
    Ok(Json(json!({"answers": answers, "attestations": attested})))
}

#[derive(serde::Deserialize)]
struct AttestRequest {
    attestation: String,
}

/// `POST /licenses/{info_hash}/attest`: one delivery attestation.
async fn attest(
    State(s): State<Arc<AppState>>,
    Path(info_hash): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    let req: AttestRequest = json_body(&body)?;
    let a = ledger::VerifiedAttestation::check(&req.attestation)?;
    let (now, windows) = (now(), s.windows);
    Ok(Json(
        s.writer
            .run(move |c| ledger::attest(c, info_hash, &a, now, &windows))
            .await?,
    ))
}

#[derive(serde::Deserialize)]
struct RevokeRequest {
    revocation: String,
}

/// `POST /licenses/{info_hash}/revoke`: the payer banned a payee.
async fn revoke(
    State(s): State<Arc<AppState>>,
    Path(info_hash): Path<String>,
    body: Bytes,
) -> Result<StatusCode, LedgerError> {
    let info_hash = parse_info_hash(&info_hash)?;
    let req: RevokeRequest = json_body(&body)?;
    let r = ilpt_protocol::delivery::SignedRevocation::decode_and_verify(&req.revocation).map_err(
        |e| match e {
            ilpt_protocol::delivery::DeliveryError::Signature(_) => {
                LedgerError::Forbidden(e.to_string())
            }
            e => bad(e.to_string()),
        },
    )?;
    let now = now();
    s.writer
        .run(move |c| ledger::revoke(c, info_hash, &r, now))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One batch answer: the status and body `/spend` would have given.
fn answer_json(answer: Result<ledger::SpendAnswer, LedgerError>) -> Value {
    match answer {
        Ok(a) => json!({"status": a.status, "body": a.body}),
        Err(LedgerError::PaymentRequired { missing, balance }) => {
            json!({"status": 402, "body": {"error": "insufficient balance", "missing": missing.to_string(), "balance": balance.to_string()}})
        }
        Err(e) => {
            let status = match &e {
                LedgerError::BadRequest(_) => 400,
                LedgerError::Forbidden(_) => 403,
                LedgerError::NotFound(_) => 404,
                LedgerError::Conflict(_) => 409,
                LedgerError::Unprocessable(_) => 422,
                _ => 503,
            };
            json!({"status": status, "body": {"error": e.to_string()}})
        }
    }
}

async fn get_earnings(
    State(s): State<Arc<AppState>>,
    Path(party): Path<String>,
) -> Result<Json<Value>, LedgerError> {
    let party = parse_party(&party)?;
    Ok(Json(
        s.writer.run(move |c| ledger::earnings(c, &party)).await?,
    ))
}

#[derive(serde::Deserialize)]
struct PointerRequest {
    pointer: String,
    /// Hex of the 64-byte signature.
    signature: String,
}

async fn set_payout_pointer(
    State(s): State<Arc<AppState>>,
    Path(party): Path<String>,
    body: Bytes,
) -> Result<StatusCode, LedgerError> {
    let party = parse_party(&party)?;
    let req: PointerRequest = json_body(&body)?;
    let sig = parse_signature(&req.signature)?;
    s.writer
        .run(move |c| ledger::set_payout_pointer(c, &party, &req.pointer, &sig))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PayoutRunRequest {
    /// Overrides the configured minimum for this run (a decimal string).
    minimum: Option<String>,
}

/// `POST /payouts`: one payout run now (body optional: `{"minimum": "N"}`). Answers
/// every payout the run made, as it ended.
async fn run_payouts(State(s): State<Arc<AppState>>, body: Bytes) -> Result<Response, LedgerError> {
    let req: PayoutRunRequest = if body.is_empty() {
        PayoutRunRequest::default()
    } else {
        json_body(&body)?
    };
    let minimum = match req.minimum {
        Some(m) => m
            .parse()
            .map_err(|_| bad(format!("minimum: expected a whole number, found {m:?}")))?,
        None => s.payout_minimum,
    };
    let ended = crate::payout::run(&s, minimum).await?;
    let payouts: Vec<Value> = ended.iter().map(|p| p.to_json()).collect();
    Ok(Json(json!({ "payouts": payouts })).into_response())
}

#[derive(serde::Deserialize)]
struct PayoutQuery {
    /// Only payouts not settled (pending and unknown).
    #[serde(default)]
    open: bool,
    /// At most this many, newest first (default 100, at most 10,000).
    limit: Option<u32>,
}

/// `GET /payouts?open=true&limit=N`: payouts, newest first.
async fn list_payouts(
    State(s): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<PayoutQuery>,
) -> Result<Json<Value>, LedgerError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let open = q.open;
    let rows = s
        .writer
        .run(move |c| ledger::payouts::list(c, open, limit))
        .await?;
    let payouts: Vec<Value> = rows.iter().map(|p| p.to_json()).collect();
    Ok(Json(json!({ "payouts": payouts })))
}

/// `GET /payouts/{id}`: one payout.
async fn get_payout(
    State(s): State<Arc<AppState>>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, LedgerError> {
    let p = s.writer.run(move |c| ledger::payouts::get(c, id)).await?;
    Ok(Json(p.to_json()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveRequest {
    /// What the operator found delivered (a decimal string).
    delivered: String,
    /// The operator key's signature (hex) of
    /// [`ilpt_protocol::account::payout_resolution_message`].
    signature: String,
}

/// `POST /payouts/{id}/resolve`: settles a payout a crash left unknown.
async fn resolve_payout(
    State(s): State<Arc<AppState>>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Json<Value>, LedgerError> {
    let req: ResolveRequest = json_body(&body)?;
    let delivered: u64 = req.delivered.parse().map_err(|_| {
        bad(format!(
            "delivered: expected a whole number, found {:?}",
            req.delivered
        ))
    })?;
    let sig = parse_signature(&req.signature)?;
    let operator = s.operator_key;
    let now = now();
    let p = s
        .writer
        .run(move |c| ledger::payouts::resolve(c, id, delivered, operator.as_ref(), &sig, now))
        .await?;
    tracing::info!(
        payout = p.id,
        delivered = p.delivered,
        state = p.state.as_str(),
        "payout resolved by the operator"
    );
    Ok(Json(p.to_json()))
}

async fn audit(State(s): State<Arc<AppState>>) -> Result<Json<Value>, LedgerError> {
    let a = s.writer.run(ledger::audit).await?;
    let holds = a.holds();
    let mut v = serde_json::to_value(&a).map_err(|e| bad(e.to_string()))?;
    v["holds"] = json!(holds);
    Ok(Json(v))
}

/// A fresh random receipt nonce.
pub fn random_nonce() -> Result<[u8; 16], LedgerError> {
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| LedgerError::Unavailable(format!("no randomness: {e}")))?;
    Ok(nonce)
}

/// The 404 answer to an SPSP route queried without `Accept: application/spsp4+json`.
pub fn not_spsp(headers: &HeaderMap) -> Option<Response> {
    (!accepts_spsp(headers)).then(|| {
        (
            StatusCode::NOT_FOUND,
            "expected Accept: application/spsp4+json",
        )
            .into_response()
    })
}

/// True if the request accepts SPSP v4 JSON.
pub fn accepts_spsp(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/spsp4+json"))
}
