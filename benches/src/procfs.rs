//! Process CPU time and memory from `/proc` (Linux).

use std::io;
use std::time::Instant;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on every Linux ABI).
pub const TICKS_PER_SEC: f64 = 100.0;

fn stat_path(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    }
}

/// User + system CPU ticks of a process (all its threads); `None` = this process.
pub fn cpu_ticks(pid: Option<u32>) -> io::Result<u64> {
    let stat = std::fs::read_to_string(stat_path(pid))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(utime + stime)
}

/// A `VmXXX:` line of `/proc/PID/status`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, field.to_owned()))
}

/// Resident set size (`VmRSS`) in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmHWM")
}

/// Reset the peak RSS of `pid` to its current RSS (needs permission over the process).
pub fn reset_peak_rss(pid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// The machine's CPU time so far, all cores, from the `cpu` line of `/proc/stat`:
/// (ticks stolen by the hypervisor, all ticks).
pub fn machine_ticks() -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no cpu line"))?;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already counted in user, so the total stops at steal.
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let steal = fields.get(7).copied().unwrap_or(0);
    Ok((steal, fields.iter().sum()))
}

/// Share of the machine's CPU time the hypervisor took over an interval.
#[derive(Debug, Clone, Copy)]
pub struct StealMeter {
    start: (u64, u64),
}

impl StealMeter {
    /// Start measuring.
    pub fn start() -> StealMeter {
        StealMeter {
            start: machine_ticks().unwrap_or((0, 0)),
        }
    }

    /// Percent of all cores' time stolen since the start (0 when nothing was counted).
    pub fn percent(&self) -> f64 {
        let (steal, total) = machine_ticks().unwrap_or(self.start);
        let total = total.saturating_sub(self.start.1);
        if total == 0 {
            return 0.0;
        }
        100.0 * steal.saturating_sub(self.start.0) as f64 / total as f64
    }
}

/// CPU use of a process over an interval.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    ticks: u64,
    since: Instant,
}

impl CpuMeter {
    /// Start measuring `pid` (`None` = this process).
    pub fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            pid,
            ticks: cpu_ticks(pid).unwrap_or(0),
            since: Instant::now(),
        }
    }

    /// CPU seconds used since the start.
    pub fn cpu_secs(&self) -> f64 {
        let now = cpu_ticks(self.pid).unwrap_or(self.ticks);
        now.saturating_sub(self.ticks) as f64 / TICKS_PER_SEC
    }

    /// (CPU seconds, wall seconds, percent of one core) since the start.
    pub fn read(&self) -> (f64, f64, f64) {
        let cpu = self.cpu_secs();
        let wall = self.since.elapsed().as_secs_f64();
        (cpu, wall, if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(peak_rss_kib(pid).unwrap() >= rss_kib(pid).unwrap() / 2);
        let meter = CpuMeter::start(None);
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed().as_millis() < 50 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let (_, wall, _) = meter.read();
        assert!(wall > 0.04);
    }

    #[test]
    fn reads_the_machine() {
        let (steal, total) = machine_ticks().unwrap();
        assert!(total > 0);
        assert!(steal <= total);
        let pct = StealMeter::start().percent();
        assert!((0.0..=100.0).contains(&pct));
    }
}
