//! Runs the store contract (`suite`) against every store. The list of
//! cases is written once; each case becomes a redb test and a MongoDB test.
//! The MongoDB tests need a server, which these build machines cannot run:
//! they are marked ignored, with the reason in the test output, and the
//! test command runs them (`--include-ignored`) whenever
//! `MASTHEAD_TEST_MONGODB_URI` is set. Each runs in its own set of
//! collections (a fresh suffix), dropped afterwards.

mod suite;

use masthead_projections::{MongoStore, RedbStore};

/// A MongoDB store in fresh collections.
async fn mongodb() -> anyhow::Result<MongoStore> {
    let uri = std::env::var("MASTHEAD_TEST_MONGODB_URI")
        .map_err(|_| anyhow::anyhow!("set MASTHEAD_TEST_MONGODB_URI to a MongoDB server to run this case"))?;
    let suffix = format!("_t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    Ok(MongoStore::connect(&uri, "masthead_projections_test", &suffix).await?)
}

macro_rules! contract {
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

        mod mongodb {
            $(
                #[tokio::test]
                #[ignore = "SKIPPED: needs a MongoDB server; run with MASTHEAD_TEST_MONGODB_URI set (the test command then includes it)"]
                async fn $case() -> anyhow::Result<()> {
                    let store = super::mongodb().await?;
                    let result = super::suite::$case(&store).await;
                    store.drop_all().await?;
                    result
                }
            )*
        }
    };
}

contract!(
    a_full_flow_fills_every_read_model,
    redelivered_events_change_nothing,
    a_match_replayed_before_its_request_is_kept,
    a_new_address_lends_its_ref_in_either_order,
    mail_outcomes_follow_stream_order,
    unusable_events_are_reported_and_the_rest_applied,
    subscriptions_list_filters_and_pages,
    addresses_list_filters_and_pages,
    erasure_drops_the_sealed_blob_in_either_order,
    verify_names_every_difference,
    a_correction_changes_lines_search_and_history,
    a_merge_moves_subscriptions_and_makes_an_alias,
    a_ref_only_correction_shows_on_its_subscriptions,
    a_corrections_lines_decide_the_flags,
    retiring_and_rekeying_show_on_the_address,
    reviews_list_oldest_first_and_leave_when_decided,
    curation_replayed_twice_or_out_of_order_changes_nothing,
);
