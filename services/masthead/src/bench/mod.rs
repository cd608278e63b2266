//! Bench commands that print figures. Each measures its subject beside a
//! baseline in the same run, because these machines are shared and noisy:
//! ratios are comparable across runs, absolute numbers are not.

pub mod e2e;
pub mod import;
pub mod intake;
pub mod load;
pub mod server;
