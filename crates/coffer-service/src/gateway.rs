//! The gateway's view of the management plane: the configuration every gateway serves, a change
//! signal for the runtime, and the certificate refresh pass. The runtime (`coffer-gateway`)
//! compiles what [`Coffer::gateway_config`] returns; it never reads records itself.

use std::sync::Arc;

use coffer_domain::gateway::GatewayConfig;

use crate::{Coffer, ServiceError, VaultReader};

impl Coffer {
    /// Sets how vault certificates are read (an HTTPS client of this instance's data plane).
    pub fn set_vault_reader(&self, reader: Arc<dyn VaultReader>) {
        let _ = self.gateway.reader.set(reader);
    }

    pub(crate) fn vault_reader(&self) -> Option<&Arc<dyn VaultReader>> {
        self.gateway.reader.get()
    }

    /// Bumped by every write on this node that changes what a gateway serves; the runtime
    /// reloads on a change (and on a timer, for writes made by other nodes).
    pub fn gateway_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.gateway.changes.subscribe()
    }

    pub(crate) fn gateway_changed(&self) {
        self.gateway.changes.send_modify(|g| *g += 1);
    }

    /// The configuration every gateway of this instance serves, built from the records.
    pub async fn gateway_config(&self) -> Result<GatewayConfig, ServiceError> {
        // The generation is read first: a write racing this read bumps it again afterwards.
        let generation = *self.gateway.changes.borrow();
        let services = self
            .apim_gateway_services()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(GatewayConfig {
            generation,
            services,
        })
    }

    /// Reads again every certificate a hostname or backend takes from a vault by a versionless
    /// id; a new version replaces the old one, a failure keeps the old one and records why.
    /// Returns whether anything a gateway serves changed.
    pub async fn refresh_gateway_certificates(&self) -> Result<bool, ServiceError> {
        self.refresh_all_apim()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

/// The gateway state the service keeps in memory.
pub(crate) struct GatewayState {
    reader: std::sync::OnceLock<Arc<dyn VaultReader>>,
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for GatewayState {
    fn default() -> Self {
        Self {
            reader: std::sync::OnceLock::new(),
            changes: tokio::sync::watch::channel(0).0,
        }
    }
}
