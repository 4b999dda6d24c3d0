//! Handler behaviour through the router, without a socket: one module per
//! API area. The helpers they share are in `super::testing`.

mod contracts;
mod cors;
mod credentials;
mod health;
mod publish;
mod stream;
mod tenant_deletion;
mod tenants;
