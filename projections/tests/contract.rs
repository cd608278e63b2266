//! Runs the store contract (`suite`) against every store: redb always,
//! MongoDB when `MASTHEAD_TEST_MONGODB_URI` points at a server.

mod suite;

use masthead_projections::{MongoStore, RedbStore};

macro_rules! redb_cases {
    ($($case:ident),* $(,)?) => {
        mod redb {
            $(
                #[tokio::test]
                async fn $case() -> anyhow::Result<()> {
                    let dir = tempfile::tempdir()?;
                    let store = super::RedbStore::open(&dir.path().join("gen-1.redb"))?;
                    super::suite::$case(&store).await
                }
            )*
        }
    };
}

redb_cases!(
    a_full_flow_fills_every_read_model,
    redelivered_events_change_nothing,
    a_match_replayed_before_its_request_is_kept,
    a_new_address_lends_its_ref_in_either_order,
    mail_outcomes_follow_stream_order,
    unusable_events_are_reported_and_the_rest_applied,
    subscriptions_list_filters_and_pages,
    addresses_list_filters_and_pages,
);

/// Every case against a real MongoDB, each in its own set of collections
/// (a fresh suffix), dropped afterwards.
#[tokio::test]
async fn mongodb_contract() -> anyhow::Result<()> {
    let Ok(uri) = std::env::var("MASTHEAD_TEST_MONGODB_URI") else {
        println!("SKIPPED: MongoDB contract tests (set MASTHEAD_TEST_MONGODB_URI to run them)");
        return Ok(());
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    for (i, case) in suite::CASES.iter().enumerate() {
        let suffix = format!("_t{}_{i}", &run[..8]);
        let store = MongoStore::connect(&uri, "masthead_projections_test", &suffix).await?;
        let result = suite::run(case, &store).await;
        store.drop_all().await?;
        result.map_err(|e| e.context(format!("MongoDB case {case}")))?;
    }
    Ok(())
}
