//! Send: the HTTP client, its breadcrumbs, and the gateway-only policy it sends under.

pub mod aws;
pub mod client;
pub mod credential;
pub mod policy;
pub mod replay;
