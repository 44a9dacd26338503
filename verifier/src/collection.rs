//! The collection wallet's asset: every payment to a revenue-share pointer lands in the
//! operator's collection wallet, so a license can only be priced in the asset that
//! wallet takes. The asset is learned, not assumed: from `collection_asset` when the
//! operator sets it, else from the pointer's Open Payments wallet address document
//! (`GET` with `Accept: application/json`), asked once.

use ilpt_protocol::Asset;

use crate::ledger::LedgerError;

/// What is known of the collection wallet's asset.
#[derive(Debug, Default)]
pub struct CollectionAsset {
    /// Set by the operator (`collection_asset`): wins over the document.
    configured: Option<Asset>,
    /// The document's asset once asked; `None` inside when the wallet serves none.
    learned: tokio::sync::OnceCell<Option<Asset>>,
}

impl CollectionAsset {
    /// With the operator's `configured` asset, if any.
    pub fn new(configured: Option<Asset>) -> CollectionAsset {
        CollectionAsset {
            configured,
            learned: tokio::sync::OnceCell::new(),
        }
    }

    /// The asset of the wallet at `pointer`: configured, or from its wallet address
    /// document (asked once; a wallet that could not be reached is asked again next
    /// time). `None` when it serves no document and none is configured: then nothing
    /// can be checked, and a payer's check of the receiver's asset is what remains.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        pointer: &str,
    ) -> Result<Option<Asset>, LedgerError> {
        if let Some(a) = &self.configured {
            return Ok(Some(a.clone()));
        }
        let learned = self
            .learned
            .get_or_try_init(|| async {
                let doc = ilpt_ilp_io::spsp::wallet_address(http, pointer)
                    .await
                    .map_err(|e| {
                        LedgerError::Upstream(format!(
                            "cannot learn the collection wallet's asset from {pointer}: {e} \
                             (or set collection_asset)"
                        ))
                    })?;
                let asset = doc.and_then(|d| Asset::new(&d.asset_code, d.asset_scale).ok());
                match &asset {
                    Some(a) => tracing::info!(%pointer, asset = %a, "collection wallet's asset"),
                    None => tracing::warn!(
                        %pointer,
                        "the collection wallet serves no wallet address document and \
                         collection_asset is not set: licenses cannot be checked against \
                         its asset"
                    ),
                }
                Ok::<_, LedgerError>(asset)
            })
            .await?;
        Ok(learned.clone())
    }

    /// Refuses `asset` (of a license or account, `what`) when the collection wallet at
    /// `pointer` takes another asset.
    pub async fn check(
        &self,
        http: &reqwest::Client,
        pointer: &str,
        asset: &Asset,
        what: &str,
    ) -> Result<(), LedgerError> {
        match self.get(http, pointer).await? {
            Some(wallet) if wallet != *asset => Err(LedgerError::BadRequest(format!(
                "{what} is in {asset}, but the collection wallet {pointer} takes {wallet}: \
                 payments land there, so prices must be in {wallet}"
            ))),
            _ => Ok(()),
        }
    }
}
