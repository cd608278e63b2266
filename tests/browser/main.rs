//! Headless Chromium against Masthead: the subscriber's form (the real
//! binary as child processes) and the dashboard (the app in this process
//! with a hand-made history).
//!
//! Needs Chromium and chromedriver (`CHROMIUM` / `CHROMEDRIVER`, else found
//! on PATH). Without them the tests fail: CI installs both, and a skipped
//! browser test would hide a broken page.

mod browser;
mod curate;
mod dashboard;
mod form;
mod sign_in;
