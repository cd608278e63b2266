//! The matcher after the address team merged or retired base addresses,
//! against a real nats-server: a merged address's spellings resolve to the
//! survivor, and a subscription that would match a retired address goes to
//! review on a new address.

use super::matcher::env;
use masthead_domain::base_address::{
    self, AddressStatus, BaseAddress, BaseAddressCommand, MergeAddress, RetireAddress,
};
use masthead_domain::envelope::CommandMeta;
use masthead_domain::review::{self, Review, ReviewKind};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_domain::ReviewReason;
use masthead_jetstream::command_bus::CommandBus;
use masthead_test_support::fixtures::base_of;
use uuid::Uuid;

const LIST: &str = "ref,street,postal_code,city,country\n\
                    S,Rossumweg 5,6541 AB,Nijmegen,NL\n\
                    M,Rossemweg 5,6541 AB,Nijmegen,NL\n\
                    R,Kerkstraat 12,3511 LX,Utrecht,NL\n";

async fn base_id(env: &super::matcher::Env, street: &str, pc: &str, city: &str) -> Uuid {
    let id = env.subscribe(street, pc, city, "NL").await;
    base_of(&env.outcome(id).await)
}

#[tokio::test]
async fn merged_spellings_resolve_to_the_survivor_and_retired_ones_go_to_review() {
    let env = env().await;
    env.import_csv(LIST).await;
    env.start_matcher().await;
    let survivor = base_id(&env, "Rossumweg 5", "6541 AB", "Nijmegen").await;
    let merged = base_id(&env, "Rossemweg 5", "6541 AB", "Nijmegen").await;
    let retired = base_id(&env, "Kerkstraat 12", "3511 LX", "Utrecht").await;
    assert_ne!(survivor, merged, "two base addresses before the merge");

    let bus = CommandBus::<BaseAddress>::new(env.store.clone(), ());
    let meta = CommandMeta::default();
    let merge = MergeAddress {
        into: survivor,
        survivor: AddressStatus::Active,
        actor: "ann".into(),
        reason: None,
        at: chrono::Utc::now(),
    };
    bus.execute(&merged.to_string(), BaseAddressCommand::Merge(merge), &meta).await.expect("merged");
    let retire = RetireAddress { actor: "ann".into(), reason: "demolished".into(), at: chrono::Utc::now() };
    bus.execute(&retired.to_string(), BaseAddressCommand::Retire(retire), &meta).await.expect("retired");

    // Typed exactly like the merged address, and with a typo in the town.
    for (street, city) in [("Rossemweg 5", "Nijmegen"), ("Rossemweg 5", "Nijmegn")] {
        let id = env.subscribe(street, "6541 AB", city, "NL").await;
        let outcome = env.outcome(id).await;
        assert!(matches!(outcome, SubscriptionEvent::AddressMatched(_)), "{outcome:?}");
        assert_eq!(base_of(&outcome), survivor, "{street}, {city} resolves to the survivor");
    }

    // Typed exactly like the retired address: its id is taken, so the new
    // address takes the successor id, and the decision asks for review.
    let id = env.subscribe("Kerkstraat 12", "3511 LX", "Utrecht", "NL").await;
    let SubscriptionEvent::AddressAssigned(a) = env.outcome(id).await else { panic!("expected a new address") };
    assert_eq!(a.base_address_id, base_address::successor_id(retired));
    let review = a.review.expect("a review request");
    assert_eq!(review.reason, ReviewReason::RetiredAddress);
    assert_eq!(review.candidates.first().map(|c| c.base_address_id), Some(retired));

    // The decision is queued for the team: the new address beside the
    // retired one it would have matched.
    let reviews = CommandBus::<Review>::new(env.store.clone(), ());
    let (item, history) = reviews.aggregates().load(&review::id_for_subscription(id).to_string()).await.expect("load");
    assert_eq!(history.len(), 1, "opened once");
    let opened = item.aggregate.opened.expect("a review item");
    assert_eq!(opened.kind, ReviewKind::GreyZone);
    assert_eq!(opened.reason, Some(ReviewReason::RetiredAddress));
    assert_eq!((opened.address_id, opened.subscription_id), (a.base_address_id, Some(id)));
    let candidates: Vec<Uuid> = opened.candidates.iter().map(|c| c.base_address_id).collect();
    assert_eq!(candidates, vec![retired]);

    // The next subscription typed like it is delivered to that new address.
    let next = env.subscribe("Kerkstraat 12", "3511LX", "utrecht", "NL").await;
    let outcome = env.outcome(next).await;
    assert!(matches!(outcome, SubscriptionEvent::AddressMatched(_)), "{outcome:?}");
    assert_eq!(base_of(&outcome), a.base_address_id);
}

#[tokio::test]
async fn a_certain_decision_opens_no_review_item() {
    let env = env().await;
    env.import_csv(LIST).await;
    env.start_matcher().await;
    let id = env.subscribe("Kerkstraat 12", "3511 LX", "Utrecht", "NL").await;
    let SubscriptionEvent::AddressMatched(m) = env.outcome(id).await else { panic!("an exact address matches") };
    assert!(m.review.is_none());
    let reviews = CommandBus::<Review>::new(env.store.clone(), ());
    let (item, history) = reviews.aggregates().load(&review::id_for_subscription(id).to_string()).await.expect("load");
    assert!(history.is_empty() && item.aggregate.opened.is_none(), "{history:?}");
}

/// Loads the review item opened for a subscription's grey-zone decision.
async fn review_item(env: &super::matcher::Env, subscription: Uuid) -> Option<review::ReviewOpened> {
    let reviews = CommandBus::<Review>::new(env.store.clone(), ());
    let (item, _) =
        reviews.aggregates().load(&review::id_for_subscription(subscription).to_string()).await.expect("load");
    item.aggregate.opened
}

#[tokio::test]
async fn a_pair_decided_distinct_is_left_out_of_later_grey_zone_items() {
    let env = env().await;
    // One street address twice: with and without its postal code.
    env.import_csv(
        "ref,street,postal_code,city,country\nA,Kerkstraat 12,3511 LX,Utrecht,NL\nB,Kerkstraat 12,,Utrecht,NL\n",
    )
    .await;
    env.start_matcher().await;
    // A typo in the town reaches both: matched, and ambiguous.
    let first = env.subscribe("Kerkstraat 12", "3511 LX", "Utrect", "NL").await;
    let delivered = base_of(&env.outcome(first).await);
    let opened = review_item(&env, first).await.expect("a grey-zone item");
    assert_eq!((opened.address_id, opened.reason), (delivered, Some(ReviewReason::Ambiguous)));
    assert_eq!(opened.candidates.len(), 1, "{opened:?}");

    // The team: these are different addresses.
    let reviews = CommandBus::<Review>::new(env.store.clone(), ());
    let decide = review::DecideReview {
        decision: review::RequestedDecision::Distinct,
        actor: "ann".into(),
        reason: None,
        at: chrono::Utc::now(),
    };
    let item = opened.review_id.to_string();
    reviews.execute(&item, review::ReviewCommand::Decide(decide), &CommandMeta::default()).await.expect("decided");
    // An address event after the decision: the matcher's fence waits for
    // it, and its feed is in stream order, so the next decision sees the
    // distinct pair (without it, which comes first would be a race).
    env.import_csv("ref,street,postal_code,city,country\nX,Marktplein 1,6541 AC,Nijmegen,NL\n").await;

    // Typed with another typo: the same verdict, on the same pair.
    let again = env.subscribe("Kerkstraat 12", "3511LX", "Utreht", "NL").await;
    let SubscriptionEvent::AddressMatched(m) = env.outcome(again).await else { panic!("a match") };
    assert_eq!(m.base_address_id, delivered);
    assert_eq!(m.review.map(|r| r.reason), Some(ReviewReason::Ambiguous), "the decision itself stands");
    assert!(review_item(&env, again).await.is_none(), "its only candidate was decided distinct: no item");
}
