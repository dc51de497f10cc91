//! What smtpspec is told about the peers it tests, and how it starts them: target
//! profiles (a server: address, variables, TLS, where it stores mail, how to launch
//! it), client profiles (a command per mode), sender profiles (an MTA that delivers
//! through the fake DNS), the embedded reference server, and the one process launcher.

pub mod client;
pub mod embedded;
pub mod launch;
pub mod sender;
pub mod server;
pub mod store;
pub mod vars;

pub use server::{
    Launch, Newlines, PolicyOptions, Profile, StoreKindSpec, StoreSpec, TlsOptions, WatchLog,
    WatchOptions,
};
