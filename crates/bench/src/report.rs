//! The table: printed, and written to `BENCHMARKS.md` with the date, the machine and
//! the command.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Opts;

/// Which way is better for a row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Better {
    Higher,
    Lower,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    label: String,
    rhizome: f64,
    reference: Option<f64>,
    reference_name: &'static str,
    better: Better,
}

impl Row {
    /// A row with no reference (the layers measured alone).
    pub(crate) fn single(label: &str, rhizome: f64, better: Better) -> Self {
        Self { label: label.to_string(), rhizome, reference: None, reference_name: "rust-libp2p", better }
    }

    /// A row against rust-libp2p.
    pub(crate) fn pair(label: &str, rhizome: f64, reference: f64, better: Better) -> Self {
        Self { reference: Some(reference), ..Self::single(label, rhizome, better) }
    }

    /// Names another reference than rust-libp2p.
    pub(crate) fn reference(mut self, name: &'static str) -> Self {
        self.reference_name = name;
        self
    }

    /// The first row whose label starts with `prefix`: (rhizome, reference).
    pub(crate) fn find(rows: &[Row], prefix: &str) -> Option<(f64, Option<f64>)> {
        rows.iter().find(|r| r.label.starts_with(prefix)).map(|r| (r.rhizome, r.reference))
    }

    fn cells(&self) -> [String; 4] {
        let reference = match self.reference {
            Some(r) if self.reference_name != "rust-libp2p" => format!("{r:.2} ({})", self.reference_name),
            Some(r) => format!("{r:.2}"),
            None => "—".to_string(),
        };
        let ratio = match (self.reference, self.better) {
            (Some(r), Better::Higher) => format!("{:.2}× (higher is better)", self.rhizome / r),
            (Some(r), Better::Lower) => format!("{:.2}× (lower is better)", self.rhizome / r),
            (None, _) => "—".to_string(),
        };
        [self.label.clone(), format!("{:.2}", self.rhizome), reference, ratio]
    }
}

/// Everything a report shows.
pub(crate) struct Report<'a> {
    pub(crate) opts: &'a Opts,
    pub(crate) rows: &'a [Row],
    pub(crate) notes: &'a [String],
    pub(crate) elapsed: Duration,
    pub(crate) args: &'a [String],
}

const HEAD: [&str; 4] = ["scenario", "rhizome", "reference (rust-libp2p)", "ratio rhizome / reference"];

impl Report<'_> {
    /// A markdown table (also what the terminal shows).
    pub(crate) fn table(&self) -> String {
        let cells: Vec<[String; 4]> = self.rows.iter().map(Row::cells).collect();
        let width = |i: usize| cells.iter().map(|c| c[i].chars().count()).chain([HEAD[i].len()]).max().unwrap_or(0);
        let w = [width(0), width(1), width(2), width(3)];
        let line = |c: [&str; 4]| {
            format!("| {:<a$} | {:>b$} | {:>c$} | {:<d$} |\n", c[0], c[1], c[2], c[3], a = w[0], b = w[1], c = w[2], d = w[3])
        };
        let mut out = line(HEAD);
        out += &format!("|{}|{}:|{}:|{}|\n", "-".repeat(w[0] + 2), "-".repeat(w[1] + 1), "-".repeat(w[2] + 1), "-".repeat(w[3] + 2));
        for c in &cells {
            out += &line([&c[0], &c[1], &c[2], &c[3]]);
        }
        out
    }

    fn settings(&self) -> String {
        let o = self.opts;
        format!(
            "{} MiB per throughput run and direction, median of {} run(s); {} sequential dials; {} dialers × {} dials; {} idle connections asked for (memory)",
            o.bytes >> 20,
            o.runs,
            o.dials,
            o.dialers,
            o.dials_each,
            o.conns
        )
    }

    /// The whole `BENCHMARKS.md`.
    pub(crate) fn markdown(&self) -> String {
        let mut cmd = "cargo run --release -p rhizome-bench --bin compare".to_string();
        if !self.args.is_empty() {
            cmd += " -- ";
            cmd += &self.args.join(" ");
        }
        let mut out = String::from("# Benchmarks\n\n");
        out += "Written by the benchmark suite (`crates/bench`, binary `compare`); do not edit by hand, run it again.\n\n";
        let _ = writeln!(out, "- date: {}", now());
        let _ = writeln!(out, "- machine: {}", machine());
        let _ = writeln!(out, "- command: `{cmd}`");
        let _ = writeln!(out, "- settings: {}", self.settings());
        let _ = writeln!(out, "- wall time of the run: {:.0} s\n", self.elapsed.as_secs_f64());
        out += &self.table();
        out += "\n";
        out += NOTES;
        for n in self.notes {
            let _ = writeln!(out, "- {n}");
        }
        out
    }
}

const NOTES: &str = "How to read it:
- Every row runs Rhizome and its reference in the same process run, one after the other, on
  127.0.0.1; throughput rows report the median of the runs; MB is 10^6 bytes.
- The machine is shared (2 cores, other builds and tests running): absolute numbers are
  noisy, the ratios less so. Compare ratios, not runs.
- The `layer:` rows move the same bytes through one layer at a time (raw TCP; TCP + our
  Noise handshake and `NoiseStream`, no multistream and no yamux; TCP + Noise + our yamux
  muxer (`crates/yamux`, not the yamux crate), one stream, no multistream and no swarm; the ChaCha20-Poly1305
  seal loop alone, ring in place as `NoiseStream` uses it, one core, 65,519-byte frames), so the gap between them and the full
  stack rows shows where the time goes.
- The `ceiling:` rows bound one encrypted stream on this machine, for any stack: every
  byte is sealed once and opened once (the `seal + open` row, one core) and carried once
  by loopback TCP (the `raw TCP … CPU of both ends` row, user and kernel time of every
  thread from `/proc/self/task/*/schedstat`). With every core busy on nothing else,
  cores ÷ (ns to seal and open a byte + ns of TCP per byte) is the fastest such a
  stream can go; copies, framing, the muxer and scheduling only lower it. Both inputs
  are the best of at least five runs (fastest AEAD, cheapest TCP), so the ceiling errs
  high; they still vary by ±20 % between runs of the suite. On these
  machines (AVX2, no AVX-512) ring and OpenSSL (`openssl speed -evp
  chacha20-poly1305`, 64 KiB) seal 1.6–2.0 GB/s on one core, not the 4.3 GB/s the
  performance issue assumed.
- Every row runs both ends as runtime tasks (2 workers), both stacks alike: the
  throughput senders and receivers, the set-up loop and the 64 accept dialers (until
  2026-12-01 the dialing end ran in `main`'s `block_on`, a third busy thread on two
  cores: both stacks moved 10–25 % less, with about the same ratios).
- Set-up is TCP connect + multistream-select + Noise XX + multistream-select + yamux,
  then one stream (multistream-select again) with a one-byte round trip. rust-libp2p
  sleeps 2 ms between dials (outside the timing) so the old connection is gone.
- Memory is the listener's RSS growth divided by the connections held, measured in a
  child process per stack; the dialers are Rhizome nodes in the parent. The Rhizome
  listener lifts its default limits (1,024 inbound connections, 512 MiB budget) for it.
  Both stacks' stream servers are the same code; its read buffer starts at 4 KiB and
  grows to 256 KiB on a full read (until 2026-12-01 it was 256 KiB zeroed per stream,
  which inflated rust-libp2p's memory row from about 19 to 26 KiB per connection).
- Hyperswarm: both Rhizome ends run as tasks on the 2-worker runtime, as an
  application's would (until 2026-12-01 the reader ran in `main`'s `block_on`, a third
  busy thread); Node runs as two processes. The HyperDHT rows dial through each
  stack's own 5-node testnet on 127.0.0.1.
";

fn now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_string(), |s| s.trim().to_string())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name"))?.split(':').nth(1).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{cores} cores, {cpu}, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}
