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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn this_process_has_spent_some_cpu_time() {
        if cfg!(target_os = "linux") {
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(30) {}
            assert!(process_cpu("self").is_some_and(|c| c >= Duration::from_millis(20)));
        }
    }
}
