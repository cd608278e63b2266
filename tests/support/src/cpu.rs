//! CPU time a process has used, for benchmark reports that put CPU per
//! event or per request beside their rates (rates move with whatever else
//! the machine runs; CPU per unit of work much less).

use std::time::Duration;

/// User plus system time process `pid` (or `"self"`) has used so far, from
/// `/proc/<pid>/stat` in the kernel's fixed 100 Hz `USER_HZ` ticks; `None`
/// where that is unavailable.
pub fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count from after
    // it. utime and stime are then the 12th and 13th fields.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}

/// CPU time used so far by those threads of process `pid` (or `"self"`)
/// whose name starts with `prefix` (`""`: all of them), as in
/// `process_cpu`. Threads that have already exited are not counted, so take
/// readings while the threads of interest live.
pub fn threads_cpu(pid: &str, prefix: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let tid = task.file_name();
        if let Some(cpu) = process_cpu(&format!("{pid}/task/{}", tid.to_string_lossy())) {
            total += cpu;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn this_process_has_spent_some_cpu_time() {
        if cfg!(target_os = "linux") {
            // Busy work grows the reading, however long the machine makes
            // that take; wall time alone would not guarantee CPU time.
            let before = process_cpu("self").expect("readable");
            let give_up = Instant::now() + Duration::from_secs(20);
            while process_cpu("self").is_some_and(|c| c < before + Duration::from_millis(20))
                && Instant::now() < give_up
            {}
            assert!(process_cpu("self").is_some_and(|c| c >= before + Duration::from_millis(20)));
        }
    }

    #[test]
    fn a_named_thread_is_counted_apart_from_the_rest() {
        if cfg!(target_os = "linux") {
            let (tx, rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let spinner = std::thread::Builder::new()
                .name("cpu-test-spin".into())
                .spawn(move || {
                    // Spin until this thread has had 40 ms of CPU (its own
                    // counter), however busy the machine is; wall time would
                    // not guarantee it.
                    let give_up = Instant::now() + Duration::from_secs(20);
                    while process_cpu("thread-self").is_some_and(|c| c < Duration::from_millis(40))
                        && Instant::now() < give_up
                    {}
                    let _ = tx.send(());
                    // Stay alive until measured: exited threads are not counted.
                    let _ = done_rx.recv();
                })
                .expect("spawn");
            rx.recv().expect("spinner finished");
            let spun = threads_cpu("self", "cpu-test-spin").expect("readable");
            let others = threads_cpu("self", "no-such-thread").expect("readable");
            let _ = done_tx.send(());
            let _ = spinner.join();
            assert!(spun >= Duration::from_millis(40), "{spun:?}");
            assert_eq!(others, Duration::ZERO);
        }
    }
}
