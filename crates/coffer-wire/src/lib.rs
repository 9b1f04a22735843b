//! Wire formats of Coffer: the JSON bodies of the Key Vault REST API, of the token endpoints, of
//! Azure Resource Manager (`arm`) and of Azure's error envelope. Plain serde data, no logic; names
//! follow the Azure REST specification.

pub mod arm;
pub mod certificates;
pub mod error;
pub mod keys;
pub mod secrets;
pub mod token;

pub use error::{ErrorBody, ErrorEnvelope};
