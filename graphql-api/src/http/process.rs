//! The process's own figures for `/metrics`, in the names Prometheus client libraries use
//! (`process_*`), and the build's (`fever_build_info`). Read from `/proc/self` at scrape
//! time on Linux; elsewhere only the build info is written.

use std::fmt::Write;

/// Appends the process and build metrics to `out`.
pub(super) fn render(out: &mut String) {
    out.push_str("# HELP fever_build_info The running build: 1, with its version.\n# TYPE fever_build_info gauge\n");
    let _ = writeln!(
        out,
        "fever_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    #[cfg(target_os = "linux")]
    if let Some(stats) = linux::read() {
        stats.render(out);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fmt::Write;

    /// What `/proc` says of this process.
    pub(super) struct Stats {
        cpu_seconds: f64,
        start_time_seconds: f64,
        resident_bytes: u64,
        virtual_bytes: u64,
        open_fds: usize,
        max_fds: Option<u64>,
    }

    /// Reads them; `None` if `/proc` cannot be read (a sandbox without it).
    pub(super) fn read() -> Option<Stats> {
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as u64;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n)?.parse::<u64>().ok();
        // `fields[0]` is field 3 of proc(5): utime is 14, stime 15, starttime 22.
        let (utime, stime, start_ticks) = (field(11)?, field(12)?, field(19)?);
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut pages = statm.split_whitespace().map(|v| v.parse::<u64>().ok());
        let (size, resident) = (pages.next()??, pages.next()??);
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        Some(Stats {
            cpu_seconds: (utime + stime) as f64 / ticks,
            start_time_seconds: boot_time as f64 + start_ticks as f64 / ticks,
            resident_bytes: resident * page,
            virtual_bytes: size * page,
            open_fds,
            max_fds: limit.current,
        })
    }

    impl Stats {
        pub(super) fn render(&self, out: &mut String) {
            let mut metric = |name: &str, kind: &str, help: &str, value: String| {
                let _ = write!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
                );
            };
            metric(
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
                format!("{:.2}", self.cpu_seconds),
            );
            metric(
                "process_start_time_seconds",
                "gauge",
                "When the process started, in seconds since the Unix epoch.",
                format!("{:.2}", self.start_time_seconds),
            );
            metric(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory, in bytes.",
                self.resident_bytes.to_string(),
            );
            metric(
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory, in bytes.",
                self.virtual_bytes.to_string(),
            );
            metric(
                "process_open_fds",
                "gauge",
                "Open file descriptors (sockets included).",
                self.open_fds.to_string(),
            );
            if let Some(max) = self.max_fds {
                metric(
                    "process_max_fds",
                    "gauge",
                    "The limit of open file descriptors.",
                    max.to_string(),
                );
            }
        }
    }
}
