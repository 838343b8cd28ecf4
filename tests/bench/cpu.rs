//! What a run costs the machine and this process, from /proc: CPU time and memory.

/// CPU time the whole machine and this process spent over the timed part of a run, in
/// jiffies (1/100 s): a cost per message that moves less between runs than the rate
/// does. The machine's figure counts everything running, so read it on a quiet machine.
#[derive(Clone, Copy)]
pub struct CpuUse {
    machine: u64,
    this_process: u64,
    postgres: u64,
    rabbitmq: u64,
}

/// utime plus stime of a `/proc/{pid}/stat` text, in jiffies.
fn busy_of(stat: &str) -> u64 {
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state, then ppid (field 4) on; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let field = |n: usize| -> u64 {
        after
            .split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// Busy time of every running process whose command is `comm` (PostgreSQL's backends and
/// RabbitMQ's `beam.smp`). A backend that exits between two readings takes its time with it,
/// so the figure is a floor; the benchmarks keep their connections open for the timed part.
fn busy_of_command(comm: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .map(|e| busy_of(&std::fs::read_to_string(e.path().join("stat")).unwrap_or_default()))
        .sum()
}

impl CpuUse {
    /// Busy time so far: user, nice, system, irq and softirq of `/proc/stat`, and utime plus
    /// stime of `/proc/self/stat`. Zero where /proc is missing.
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let machine = stat
            .lines()
            .next()
            .map(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                [0, 1, 2, 5, 6].iter().filter_map(|&i| f.get(i)).sum()
            })
            .unwrap_or(0);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        Self {
            machine,
            this_process: busy_of(&own),
            postgres: busy_of_command("postgres"),
            rabbitmq: busy_of_command("beam.smp"),
        }
    }

    pub fn since(self, start: Self) -> Self {
        Self {
            machine: self.machine.saturating_sub(start.machine),
            this_process: self.this_process.saturating_sub(start.this_process),
            postgres: self.postgres.saturating_sub(start.postgres),
            rabbitmq: self.rabbitmq.saturating_sub(start.rabbitmq),
        }
    }

    /// `CPU per 1000 <what>: … ms on the whole machine, of which … ms in this process`.
    pub fn per_thousand(self, count: usize, what: &str) -> String {
        let ms = |j: u64| j as f64 * 10.0 * 1000.0 / count as f64;
        format!(
            "CPU per 1000 {what}: {:.0} ms on the whole machine, of which {:.0} ms in this process, \
             {:.0} ms in PostgreSQL and {:.0} ms in RabbitMQ",
            ms(self.machine),
            ms(self.this_process),
            ms(self.postgres),
            ms(self.rabbitmq)
        )
    }
}

/// This process's resident memory now and at its peak, in MiB.
pub fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}
