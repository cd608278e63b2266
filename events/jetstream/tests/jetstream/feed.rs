//! `feed::read_to_end`: a filtered part of the stream, once, in order, to
//! its end.

use masthead_jetstream::feed::{read_to_end, FeedError};
use masthead_test_support::stream::server_with_stream;

#[tokio::test]
async fn a_feed_hands_over_its_subjects_in_order_and_ends_at_the_end() {
    let (_server, js, topology) = server_with_stream("FEED").await.expect("nats-server with the stream");
    let addresses = vec![topology.aggregate_filter("address")];
    let never = |_: masthead_jetstream::feed::FeedMessage<'_>| -> Result<(), std::io::Error> {
        panic!("an empty feed handed something over")
    };
    assert_eq!(read_to_end(&js, &topology, addresses.clone(), 1, never).await.expect("empty"), 0);

    // Address and subscription messages interleaved: 1, 3, 5 … are addresses.
    for i in 0..20u64 {
        let subject = match i % 2 {
            0 => topology.subject("address", &format!("a{i}")),
            _ => topology.subject("subscription", &format!("s{i}")),
        };
        js.publish(subject, i.to_string().into()).await.expect("publish").await.expect("ack");
    }
    let mut seen = Vec::new();
    let handed = read_to_end(&js, &topology, addresses.clone(), 6, |m| {
        seen.push((m.stream_sequence, m.left, String::from_utf8_lossy(m.payload).into_owned()));
        Ok::<_, std::io::Error>(())
    })
    .await
    .expect("read");
    let want: Vec<_> =
        (6..=20u64).filter(|s| s % 2 == 1).enumerate().map(|(i, s)| (s, 6 - i as u64, (s - 1).to_string())).collect();
    assert_eq!(handed, want.len() as u64);
    assert_eq!(seen, want, "from sequence 6: the address messages only, in order, counting down to none left");

    // A refusal stops the read at that message and comes back as it was.
    let mut visited = 0;
    let refused = read_to_end(&js, &topology, addresses, 1, |m| {
        visited += 1;
        match m.stream_sequence {
            5 => Err(std::io::Error::other("full disk")),
            _ => Ok(()),
        }
    })
    .await;
    assert!(matches!(&refused, Err(FeedError::Visit(e)) if e.to_string() == "full disk"), "{refused:?}");
    assert_eq!(visited, 3, "stopped at the refused message (sequences 1, 3, 5)");
}
