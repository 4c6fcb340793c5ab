//! Black-box tests of the server over HTTP on 127.0.0.1.

#[path = "../common/mod.rs"]
mod common;

mod account_sessions;
mod claims;
mod clients;
mod feed;
mod independent;
mod limits;
mod login;
mod openapi;
mod recent;
mod restart;
mod revoke;
mod sessions;
mod userinfo;
mod users;
mod wellknown;
