//! `masthead-bench paging`: address paging at scale. Loads N base
//! addresses into a fresh redb generation, then times the list requests the
//! read API makes, at the store (no HTTP). The unfiltered first page is the
//! cheapest request there is: the same-run reference the others compare
//! with.
//!
//! With `--keep <file>` it only loads, into that file, and stops: the store
//! `infra/bench/read-api.sh` serves over HTTP.

use masthead_domain::base_address::AddressSource;
use masthead_projections::{AddressFilter, PageRequest, RedbStore};
use masthead_testdata::events::{address_event, random_address, Rng};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Options {
    /// Base addresses to load.
    #[arg(long, default_value_t = 1_000_000)]
    addresses: usize,
    /// Requests timed per kind.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Only load, into this redb file, and stop.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

fn report(name: &str, mut times: Vec<Duration>, items: usize) {
    times.sort();
    let total: Duration = times.iter().sum();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "{name:<34} {:>8.0} pages/s  p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}  ({} pages, avg {:.1} items)",
        times.len() as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        times[times.len() - 1],
        times.len(),
        items as f64 / times.len() as f64
    );
}

fn time_pages(store: &RedbStore, name: &str, requests: &[(AddressFilter, PageRequest)]) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(requests.len());
    let mut items = 0;
    for (filter, page) in requests {
        let t = Instant::now();
        let p = store.addresses_blocking(filter, page)?;
        times.push(t.elapsed());
        items += p.items.len();
    }
    report(name, times, items);
    Ok(())
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let (n, rounds, keep) = (options.addresses, options.requests.max(1), &options.keep);
    let dir = tempfile::tempdir()?;
    let store = match keep {
        Some(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            RedbStore::open(path)?
        }
        None => RedbStore::create_generation(dir.path())?.1,
    };
    store.set_durable(false);

    let mut rng = Rng::new(99);
    let t = Instant::now();
    let mut postal_codes = Vec::new();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..n {
        let a = random_address(&mut rng, i);
        if i % 1000 == 0 {
            postal_codes.push(a.postal_code.clone());
        }
        batch.push(address_event(i as u64 + 1, a.registered(AddressSource::Curation, chrono::Utc::now())));
        if batch.len() == 5000 {
            store.apply_batch_blocking(&batch)?;
            batch.clear();
        }
    }
    store.apply_batch_blocking(&batch)?;
    store.flush()?;
    println!(
        "loaded {n} addresses in {:.2?}; file {:.0} MiB",
        t.elapsed(),
        std::fs::metadata(store.path())?.len() as f64 / (1024.0 * 1024.0)
    );
    if keep.is_some() {
        return Ok(());
    }

    let all = AddressFilter::default();
    // Walk to a deep position once, remembering cursors along the way.
    let t = Instant::now();
    let mut cursors = Vec::new();
    let mut page = PageRequest::first(100);
    let mut walked = 0;
    loop {
        let p = store.addresses_blocking(&all, &page)?;
        walked += p.items.len();
        match p.next_cursor {
            Some(c) => {
                cursors.push(c.clone());
                page = PageRequest::after(100, c);
            }
            None => break,
        }
    }
    println!("walked all {walked} addresses in pages of 100 in {:.2?}", t.elapsed());
    let deep: Vec<String> = cursors.iter().skip(cursors.len() / 2).step_by(7).cloned().collect();

    let first: Vec<_> = (0..rounds).map(|_| (all.clone(), PageRequest::first(20))).collect();
    time_pages(&store, "first page (no filter; reference)", &first)?;
    let deep_pages: Vec<_> =
        (0..rounds).map(|i| (all.clone(), PageRequest::after(20, deep[i % deep.len().max(1)].clone()))).collect();
    time_pages(&store, "deep cursor page (no filter)", &deep_pages)?;
    let postal: Vec<_> = (0..rounds)
        .map(|i| {
            let f =
                AddressFilter { postal_code: Some(postal_codes[i % postal_codes.len()].clone()), ..Default::default() };
            (f, PageRequest::first(20))
        })
        .collect();
    time_pages(&store, "postal_code filter, first page", &postal)?;
    let prefixes = ["ke", "kerk", "kerkst", "molenw", "zon", "lindenl", "sluisk", "ha", "pr", "wilgenstr"];
    let q: Vec<_> = (0..rounds)
        .map(|i| {
            (
                AddressFilter { q: Some(prefixes[i % prefixes.len()].into()), ..Default::default() },
                PageRequest::first(20),
            )
        })
        .collect();
    time_pages(&store, "q search, first page", &q)?;
    // Deep q pages: follow each search 50 pages in, then time the next page.
    let mut q_deep = Vec::new();
    for p in prefixes {
        let f = AddressFilter { q: Some(p.into()), ..Default::default() };
        let mut page = PageRequest::first(20);
        for _ in 0..50 {
            match store.addresses_blocking(&f, &page)?.next_cursor {
                Some(c) => page = PageRequest::after(20, c),
                None => break,
            }
        }
        for _ in 0..rounds / prefixes.len() {
            q_deep.push((f.clone(), page.clone()));
        }
    }
    time_pages(&store, "q search, page 51", &q_deep)?;
    let q_country: Vec<_> = (0..rounds)
        .map(|i| {
            let f = AddressFilter {
                q: Some(prefixes[i % prefixes.len()].into()),
                country: Some("DE".into()),
                ..Default::default()
            };
            (f, PageRequest::first(20))
        })
        .collect();
    time_pages(&store, "q + country=DE", &q_country)?;
    Ok(())
}
