//! Who is who: email rules, password policy and hashing, user accounts.

pub mod accounts;
pub mod clients;
pub mod email;
pub mod login;
pub mod passwords;
pub mod policy;
pub mod recovery;
pub mod throttle;
