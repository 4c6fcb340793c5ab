//! Black-box tests of the server over HTTP on 127.0.0.1.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/postgres.rs"]
mod pg;
#[path = "../common/webhooks.rs"]
mod receiver;

mod account_sessions;
mod claims;
mod clients;
mod feed;
mod independent;
mod limits;
mod login;
mod openapi;
mod recent;
mod recovery;
mod restart;
mod revoke;
mod sessions;
mod userinfo;
mod users;
mod webhooks;
mod wellknown;
