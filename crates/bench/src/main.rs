//! The benchmark suite: Rhizome against rust-libp2p 0.57 (and the Hyperswarm stack
//! against Node), every reference run in the same process run, medians and ratios
//! printed as a table and written to `BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release -p rhizome-bench --bin compare                 # the full suite (< 10 min on 2 cores)
//! cargo run --release -p rhizome-bench --bin compare -- --quick      # every row once, tiny sizes, seconds
//! cargo run --release -p rhizome-bench --bin compare -- --only setup # one row group
//! ```
//!
//! Flags: `--mib N` (bytes per throughput run, each way), `--runs N` (runs per
//! throughput row, median reported), `--dials N` (sequential dials for set-up p50/p99),
//! `--conns N` (idle connections held for memory), `--only ROW` (`layers`, `stream`,
//! `streams`, `setup`, `accept`, `memory`, `hyperswarm`, `kad`; repeatable), `--out FILE`
//! (default `BENCHMARKS.md` at the workspace root; `--quick` and `--only` write
//! nothing unless `--out` is given).
//!
//! Rows (all on 127.0.0.1, same machine, same build):
//! - layers: the same bytes through raw TCP, TCP + Noise (`rhizome_noise` over a
//!   `TcpStream`), TCP + Noise + yamux (`rhizome_yamux`, no multistream), and bare ChaCha20-Poly1305
//!   loops (seal; seal + open), so the table shows where the time of the full stack
//!   goes; with the CPU raw TCP costs per byte, the `ceiling:` rows: the fastest one
//!   encrypted stream can go on this machine, whatever the stack;
//! - stream: one connection, one stream, upload and download, TCP + multistream +
//!   Noise + yamux, both stacks;
//! - streams: 16 concurrent upload streams on one connection, aggregate, both stacks;
//! - setup: connect + multistream + Noise + yamux + one stream round trip, p50 and p99
//!   over sequential dials, both stacks;
//! - accept: connections accepted per second with 64 concurrent dialers, both stacks;
//! - memory: listener RSS growth per idle connection (one stream served, then held),
//!   in a child process per stack;
//! - hyperswarm: one UDX + secret-stream stream, Rhizome ↔ Rhizome against
//!   Node ↔ Node; then through the HyperDHT, each stack on its own 5-node testnet:
//!   connect latency (FIND_PEER + relayed Noise IK + UDX + one byte back, p50/p99 over
//!   `--dials` sequential connects, 5–50) and one connection's throughput (skipped with a note when `interop-tests/hyperswarm/node_modules` is
//!   missing);
//! - kad: lookup latency (virtual clock, 10–100 ms links), hops, messages per lookup
//!   and exactness in the deterministic 1,000- and 10,000-node simulations
//!   (`rhizome::kad::simulation`); Rhizome only.

mod hdht;
mod kadsim;
mod layers;
mod lp2p;
mod memory;
mod report;
mod rz;
mod stacks;
mod udx;

use std::time::Instant;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use report::{Better, Row};

const CHUNK: usize = 256 * 1024;
const MIB: u64 = 1 << 20;

/// Which way the bytes go, seen from the dialer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// The dialer sends, the listener counts and answers with the count.
    Up,
    /// The dialer asks for N bytes (8 bytes, big endian), the listener sends them.
    Down,
}

/// Listener side of every transfer.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, dir: Dir) -> std::io::Result<()> {
    match dir {
        Dir::Up => {
            let n = drain(s).await?;
            s.write_all(&n.to_be_bytes()).await?;
        }
        Dir::Down => {
            let mut n = [0u8; 8];
            s.read_exact(&mut n).await?;
            send(s, u64::from_be_bytes(n)).await?;
        }
    }
    s.shutdown().await
}

async fn drain<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<u64> {
    // Small until a read fills it: a one-byte round trip (set-up, accept) should not
    // pay for zeroing a bulk buffer, in either stack.
    let mut buf = vec![0u8; 4096];
    let mut n = 0u64;
    loop {
        let r = s.read(&mut buf).await?;
        if r == 0 {
            return Ok(n);
        }
        if r == buf.len() && buf.len() < CHUNK {
            buf = vec![0u8; CHUNK];
        }
        n += r as u64;
    }
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, bytes: u64) -> std::io::Result<()> {
    let chunk = vec![0x5a; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        s.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    Ok(())
}

/// Dialer side: moves `bytes` in `dir` and checks the count; bytes per second.
pub(crate) async fn transfer<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, dir: Dir, bytes: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    let got = match dir {
        Dir::Up => {
            send(s, bytes).await?;
            s.shutdown().await?;
            let mut count = [0u8; 8];
            s.read_exact(&mut count).await?;
            u64::from_be_bytes(count)
        }
        Dir::Down => {
            s.write_all(&bytes.to_be_bytes()).await?;
            s.flush().await?;
            let got = drain(s).await?;
            s.shutdown().await?;
            got
        }
    };
    anyhow::ensure!(got == bytes, "{got} of {bytes} bytes arrived");
    Ok(bytes as f64 / start.elapsed().as_secs_f64())
}

/// [`transfer`] as a runtime task, as an application's would run (not in `main`'s
/// `block_on`, a third busy thread on two cores); every throughput row uses it.
pub(crate) async fn spawned_transfer<S>(mut s: S, dir: Dir, bytes: u64) -> anyhow::Result<f64>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move { transfer(&mut s, dir, bytes).await }).await?
}

/// The suite's settings, from the command line.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) quick: bool,
    pub(crate) bytes: u64,
    pub(crate) runs: usize,
    pub(crate) dials: usize,
    pub(crate) dialers: usize,
    pub(crate) dials_each: usize,
    pub(crate) conns: usize,
    pub(crate) only: Vec<String>,
    pub(crate) out: Option<std::path::PathBuf>,
}

impl Opts {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = if quick {
            Self { quick, bytes: 4 * MIB, runs: 1, dials: 20, dialers: 64, dials_each: 1, conns: 100, only: vec![], out: None }
        } else {
            Self { quick, bytes: 256 * MIB, runs: 3, dials: 1000, dialers: 64, dials_each: 16, conns: 5000, only: vec![], out: None }
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--quick" => {}
                "--mib" => o.bytes = val()?.parse::<u64>()? * MIB,
                "--runs" => o.runs = val()?.parse::<usize>()?.max(1),
                "--dials" => o.dials = val()?.parse::<usize>()?.max(1),
                "--conns" => o.conns = val()?.parse::<usize>()?.max(1),
                "--only" => o.only.push(val()?.clone()),
                "--out" => o.out = Some(val()?.into()),
                other => anyhow::bail!("unknown argument {other} (see the doc comment of crates/bench/src/main.rs)"),
            }
        }
        if o.out.is_none() && !o.quick && o.only.is_empty() {
            o.out = Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../BENCHMARKS.md"));
        }
        Ok(o)
    }

    fn wants(&self, row: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == row)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len().max(1)) - 1;
    v.get(i).copied().unwrap_or(f64::NAN)
}

fn percentile(mut v: Vec<std::time::Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

/// The median of `runs` runs of `f`, in MB/s.
async fn mbs<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        v.push(f().await? / 1e6);
    }
    Ok(median(v))
}

async fn layer_rows(o: &Opts, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let (b, r) = (o.bytes, o.runs);
    let chacha = mbs(r, || async { layers::chacha(b, false) }).await?;
    rows.push(Row::single("layer: ChaCha20-Poly1305 seal loop (ring, as NoiseStream), 1 core (MB/s)", chacha, Better::Higher));
    // The ceiling is an upper bound: it takes the fastest AEAD run and the cheapest
    // TCP run of at least five.
    let best_of = r.max(5);
    let mut round = 0f64;
    for _ in 0..best_of {
        round = round.max(layers::chacha(b, true)? / 1e6);
    }
    let label = format!("layer: ChaCha20-Poly1305 seal + open of each frame (ring), 1 core, best of {best_of} (MB/s)");
    rows.push(Row::single(&label, round, Better::Higher));
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    for (name, dir) in [("upload", Dir::Up), ("download", Dir::Down)] {
        let (mut rates, mut ns) = (Vec::new(), f64::INFINITY);
        for _ in 0..best_of {
            let (rate, cpu) = layers::tcp_cpu(dir, b).await?;
            rates.push(rate / 1e6);
            ns = ns.min(cpu);
        }
        rows.push(Row::single(&format!("layer: raw TCP, {name} (MB/s)"), median(rates), Better::Higher));
        let label = format!("layer: raw TCP, {name}, CPU of both ends, least of {best_of} (ns/byte)");
        rows.push(Row::single(&label, ns, Better::Lower));
        // Every byte of one encrypted stream is sealed once, opened once and carried
        // once by loopback TCP; with all cores busy and nothing else to do, no stack
        // moves it faster than this.
        let ceiling = cores * 1e3 / (1e3 / round + ns);
        let label = format!("ceiling: {name}, one encrypted stream, {cores} cores ÷ (seal + open + raw TCP CPU per byte) (MB/s)");
        rows.push(Row::single(&label, ceiling, Better::Higher));
        let noise = mbs(r, || layers::noise(dir, b)).await?;
        rows.push(Row::single(&format!("layer: TCP + Noise, {name} (MB/s)"), noise, Better::Higher));
        let yamux = mbs(r, || layers::yamux(dir, b)).await?;
        rows.push(Row::single(&format!("layer: TCP + Noise + yamux, {name} (MB/s)"), yamux, Better::Higher));
    }
    Ok(())
}

async fn stream_rows(o: &Opts, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let (b, r) = (o.bytes, o.runs);
    for (name, dir) in [("upload", Dir::Up), ("download", Dir::Down)] {
        let (mut rz, mut lp) = (Vec::new(), Vec::new());
        for _ in 0..r {
            rz.push(stacks::rhizome_stream(dir, b).await? / 1e6);
            lp.push(stacks::libp2p_stream(dir, b).await? / 1e6);
        }
        let label = format!("full stack (TCP + multistream + Noise + yamux), 1 stream, {name} (MB/s)");
        rows.push(Row::pair(&label, median(rz), median(lp), Better::Higher));
    }
    Ok(())
}

async fn streams_rows(o: &Opts, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let (mut rz, mut lp) = (Vec::new(), Vec::new());
    for _ in 0..o.runs {
        rz.push(stacks::rhizome_streams(16, o.bytes).await.context("rhizome")? / 1e6);
        lp.push(stacks::libp2p_streams(16, o.bytes).await.context("rust-libp2p")? / 1e6);
    }
    rows.push(Row::pair("16 concurrent streams, 1 connection, upload, aggregate (MB/s)", median(rz), median(lp), Better::Higher));
    Ok(())
}

async fn setup_rows(o: &Opts, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let rz = stacks::rhizome_setup(o.dials).await?;
    let lp = stacks::libp2p_setup(o.dials).await?;
    let label = |p: &str| format!("set-up: connect + upgrade + stream round trip, {p} of {} (ms)", o.dials);
    rows.push(Row::pair(&label("p50"), percentile(rz.clone(), 0.5), percentile(lp.clone(), 0.5), Better::Lower));
    rows.push(Row::pair(&label("p99"), percentile(rz, 0.99), percentile(lp, 0.99), Better::Lower));
    Ok(())
}

async fn accept_rows(o: &Opts, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> anyhow::Result<()> {
    let rz = stacks::rhizome_accept(o.dialers, o.dials_each).await?;
    let before = stacks::LIBP2P_RETRIES.load(std::sync::atomic::Ordering::Relaxed);
    let lp = stacks::libp2p_accept(o.dialers, o.dials_each).await?;
    let retries = stacks::LIBP2P_RETRIES.load(std::sync::atomic::Ordering::Relaxed) - before;
    if retries > 0 {
        notes.push(format!(
            "accept: rust-libp2p's listener dropped {retries} inbound streams (libp2p-stream's accept channel holds none); the dialers opened them again, inside the timing"
        ));
    }
    let label = format!("accepted connections/s, {} dialers × {} dials", o.dialers, o.dials_each);
    rows.push(Row::pair(&label, rz, lp, Better::Higher));
    Ok(())
}

async fn memory_rows(o: &Opts, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let conns = memory::fit_fd_limit(o.conns);
    if conns < o.conns {
        println!("note: the fd limit allows {conns} of the {} connections asked for", o.conns);
    }
    let rz = memory::per_connection("rhizome", conns).await?;
    let lp = memory::per_connection("libp2p", conns).await?;
    let label = format!("listener memory per idle connection, {conns} held (KiB)");
    rows.push(Row::pair(&label, rz / 1024.0, lp / 1024.0, Better::Lower));
    Ok(())
}

async fn hyperswarm_rows(o: &Opts, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> anyhow::Result<()> {
    let Some(dir) = udx::node_dir() else {
        let note = "hyperswarm row skipped: Node modules missing (run `npm ci` in interop-tests/hyperswarm)".to_string();
        println!("note: {note}");
        notes.push(note);
        return Ok(());
    };
    let size = o.bytes as usize;
    let (mut rz, mut nd) = (Vec::new(), Vec::new());
    for _ in 0..o.runs {
        rz.push(udx::mbps(size, udx::rhizome(size).await?.1) * 1.048576);
        nd.push(udx::mbps(size, udx::node_pair(&dir, size).await?) * 1.048576);
    }
    let label = "Hyperswarm: UDX + secret-stream, 1 stream, vs Node (MB/s)";
    rows.push(Row::pair(label, median(rz), median(nd), Better::Higher).reference("Node"));
    // through the DHT: each stack's own 5-node testnet, FIND_PEER + relayed handshake
    let dials = o.dials.clamp(5, 50);
    let mib = (o.bytes >> 20).clamp(1, 64);
    let (rz, nd) = (hdht::rhizome(dials, mib).await?, hdht::node(&dir, dials, mib).await?);
    let label = format!("HyperDHT connect (5-node testnet, find + handshake + first byte), p50 of {dials} (ms)");
    rows.push(Row::pair(&label, median(rz.connect_ms.clone()), median(nd.connect_ms.clone()), Better::Lower).reference("Node"));
    let label = format!("HyperDHT connect, p99 of {dials} (ms)");
    rows.push(Row::pair(&label, p99(rz.connect_ms), p99(nd.connect_ms), Better::Lower).reference("Node"));
    let label = format!("HyperDHT connection, {mib} MiB one way (MB/s)");
    rows.push(Row::pair(&label, rz.mbps, nd.mbps, Better::Higher).reference("Node"));
    Ok(())
}

/// What the throughput goals (3× rust-libp2p's single stream, 2× its 16 streams) ask
/// for in MB/s on this machine, next to the ceiling rows of the same run.
fn ceiling_note(rows: &[Row], notes: &mut Vec<String>) {
    let ceiling = |name: &str| Row::find(rows, &format!("ceiling: {name},")).map(|r| r.0);
    let reference = |label: &str| Row::find(rows, label).and_then(|r| r.1);
    let mut parts = Vec::new();
    for name in ["upload", "download"] {
        let lp = reference(&format!("full stack (TCP + multistream + Noise + yamux), 1 stream, {name}"));
        if let (Some(c), Some(lp)) = (ceiling(name), lp) {
            parts.push(format!("1 stream {name}: 3× rust-libp2p is {:.0} MB/s, the ceiling {c:.0} MB/s", 3.0 * lp));
        }
    }
    if let (Some(c), Some(lp)) = (ceiling("upload"), reference("16 concurrent streams")) {
        parts.push(format!("16 streams: 2× rust-libp2p is {:.0} MB/s, the ceiling {c:.0} MB/s", 2.0 * lp));
    }
    if !parts.is_empty() {
        notes.push(format!("the throughput goals against this run's ceiling rows — {}", parts.join("; ")));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("mem-server") {
        return memory::server(args.get(1).context("stack")?).await;
    }
    let o = Opts::parse(&args)?;
    let started = Instant::now();
    let (mut rows, mut notes) = (Vec::new(), Vec::new());
    let groups = ["layers", "stream", "streams", "setup", "accept", "memory", "hyperswarm", "kad"];
    if let Some(g) = o.only.iter().find(|g| !groups.contains(&g.as_str())) {
        anyhow::bail!("unknown row {g}; rows: {}", groups.join(", "));
    }
    for g in groups.into_iter().filter(|g| o.wants(g)) {
        let t = Instant::now();
        match g {
            "layers" => layer_rows(&o, &mut rows).await?,
            "stream" => stream_rows(&o, &mut rows).await?,
            "streams" => streams_rows(&o, &mut rows).await?,
            "setup" => setup_rows(&o, &mut rows).await?,
            "accept" => accept_rows(&o, &mut rows, &mut notes).await?,
            "memory" => memory_rows(&o, &mut rows).await?,
            "kad" if o.quick => kadsim::rows(&[200], 20, &mut rows),
            "kad" => kadsim::rows(&[1000, 10_000], 500, &mut rows),
            _ => hyperswarm_rows(&o, &mut rows, &mut notes).await?,
        }
        eprintln!("[{g}: {:.1} s]", t.elapsed().as_secs_f64());
    }
    ceiling_note(&rows, &mut notes);
    let report = report::Report { opts: &o, rows: &rows, notes: &notes, elapsed: started.elapsed(), args: &args };
    println!("\n{}", report.table());
    if let Some(out) = &o.out {
        std::fs::write(out, report.markdown())?;
        println!("written to {}", out.display());
    }
    Ok(())
}
