//! Operator commands: dead letters and mail resends.

use crate::connect::Nats;
use anyhow::{bail, Context, Result};
use masthead_events::dead_letter::DeadLetters;
use masthead_events::topology::ConsumerRole;

async fn dead_letters(nats: &Nats) -> Result<DeadLetters> {
    DeadLetters::open(&nats.js, &nats.topology.dead_letters_bucket()).await.context("opening dead-letter records")
}

fn check_consumer(consumer: Option<&str>) -> Result<()> {
    if let Some(c) = consumer {
        if ConsumerRole::parse(c).is_none() {
            bail!("unknown consumer {c:?}: use matcher, projector or mailer");
        }
    }
    Ok(())
}

pub async fn dlq_list(nats: &Nats, consumer: Option<&str>) -> Result<()> {
    check_consumer(consumer)?;
    let letters = dead_letters(nats).await?.list(consumer).await?;
    if letters.is_empty() {
        println!("no dead letters");
        return Ok(());
    }
    println!("{:<10} {:>10} {:<28} {:>10} {:<8} error", "consumer", "sequence", "event", "deliveries", "replay");
    for l in &letters {
        println!(
            "{:<10} {:>10} {:<28} {:>10} {:<8} {}",
            l.consumer,
            l.stream_sequence,
            l.event_type.as_deref().unwrap_or("(undecodable)"),
            l.deliveries,
            if l.replay_requested { "asked" } else { "-" },
            l.error
        );
    }
    println!("{} dead letter(s)", letters.len());
    Ok(())
}

/// Flags dead letters for replay; the owning consumer picks them up.
pub async fn dlq_replay(nats: &Nats, consumer: Option<&str>, sequences: &[u64]) -> Result<()> {
    check_consumer(consumer)?;
    let dlq = dead_letters(nats).await?;
    let letters = dlq.list(consumer).await?;
    let chosen: Vec<_> =
        letters.iter().filter(|l| sequences.is_empty() || sequences.contains(&l.stream_sequence)).collect();
    if chosen.is_empty() {
        bail!("no matching dead letters (see `masthead dlq list`)");
    }
    for l in &chosen {
        dlq.request_replay(&l.consumer, l.stream_sequence).await?;
        println!("replay requested: {} #{}", l.consumer, l.stream_sequence);
    }
    println!("the running {} consumer(s) replay them; `masthead dlq list` shows what is left", chosen.len());
    Ok(())
}

/// Asks the mailer to send a subscription's confirmation again.
pub async fn mail_resend(nats: &Nats, subscription_id: &str) -> Result<()> {
    let id = uuid::Uuid::parse_str(subscription_id).context("the subscription id must be a UUID")?;
    let subject = nats.topology.subject("subscription", &id.to_string());
    let dlq = dead_letters(nats).await?;
    let letters = dlq.list(Some("mailer")).await?;
    let Some(letter) = letters.iter().rev().find(|l| l.subject == subject) else {
        bail!("no failed confirmation is waiting for subscription {id} (see `masthead dlq list --consumer mailer`)");
    };
    dlq.request_replay("mailer", letter.stream_sequence).await?;
    println!("resend requested for subscription {id}; the mailer sends it and records ConfirmationSent");
    Ok(())
}
