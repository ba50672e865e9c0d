//! yamux limits, chosen on purpose.

/// The yamux initial stream window (spec and every implementation): 256 KiB.
pub const INITIAL_WINDOW: usize = 256 * 1024;
/// The largest DATA frame body we send (and the largest the `yamux` crate reads).
pub const MAX_FRAME_BODY: usize = 1024 * 1024;
/// The largest receive window a stream may grow to. Peers send DATA frames of at
/// most 64 KiB (go, js) or 16 KiB (rust-libp2p), however large the window; our
/// parser streams a frame's body, so a larger frame costs nothing extra either.
pub const MAX_STREAM_WINDOW: usize = 16 * 1024 * 1024;
/// Default largest stream window (`Config::max_stream_window`).
pub const DEFAULT_STREAM_WINDOW: usize = 4 * 1024 * 1024;
/// Default size of the window-growth pool a [`Config`] shares among its connections.
pub const DEFAULT_WINDOW_POOL: usize = 64 * 1024 * 1024;

/// Which yamux implementation a [`Config`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Implementation {
    /// Ours: a sans-IO session with a thin shell (the default).
    #[default]
    Own,
    /// The `yamux` crate 0.14 (what rust-libp2p 0.57 uses), through an adapter.
    Crate,
}

/// Streams the yamux crate tolerates beyond [`Config::max_streams`] (see `to_yamux`).
pub const STREAM_SLACK: usize = 64;

/// yamux settings (`yamux::Config`).
///
/// | setting | default | why |
/// |---|---|---|
/// | `max_streams` | 1024 | concurrent streams per connection, both directions. Opening one more locally fails with `MuxError::TooManyStreams` and the connection stays up; a peer whose SYN takes the count past `max_streams` + [`STREAM_SLACK`] is disconnected (the yamux crate's rule; rust-libp2p opens at most 512, js 1000 per direction) |
/// | `max_stream_window` | 4 MiB | each stream starts at 256 KiB; one whose application keeps reading has its window doubled up to this, so one stream can fill a fast link. On loopback one TCP+Noise stream moved about 20 % more with 4 MiB than with 1 MiB (waiting less for window updates), and less again with 16 MiB (a lagging reader's queue no longer fits the caches); at most [`MAX_STREAM_WINDOW`] |
/// | `window_pool` | 64 MiB | the growth beyond 256 KiB per stream comes out of this pool, shared by every connection started from this `Config` (its clones included): one node never buffers more than this above the initial windows, however many connections it has |
/// | `split_send_size` | 65,507 B | largest DATA frame we send: with its 12-byte header it fills one Noise frame exactly (65,519 plaintext bytes); go and js send up to 64 KiB too |
/// | `inbound_backlog` | 256 | inbound streams not yet taken by the swarm; newer ones are reset |
/// | `implementation` | `Own` | our muxer, or the `yamux` crate ([`Config::with_crate_impl`]) |
///
/// Worst-case receive buffering is `max_streams × 256 KiB` per connection plus, for
/// the whole node, the window pool: a stream only grows while its application
/// reads, and a connection's streams together grow by at most `max_stream_window`.
/// The swarm bounds how many inbound streams it serves at once and reserves each
/// stream's initial window from its memory budget.
#[derive(Debug, Clone)]
pub struct Config {
    /// Maximum concurrent streams per connection (both directions).
    pub max_streams: usize,
    /// Largest receive window one stream may auto-tune up to (256 KiB ..= 16 MiB).
    pub max_stream_window: usize,
    /// Window growth shared by every connection started from this `Config`.
    pub window_pool: std::sync::Arc<crate::WindowPool>,
    /// Largest DATA frame body we send.
    pub split_send_size: usize,
    /// Inbound streams buffered before the swarm takes them.
    pub inbound_backlog: usize,
    /// Which implementation [`Muxer::start`](rhizome_core::Muxer::start) runs.
    pub implementation: Implementation,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_streams: 1024,
            max_stream_window: DEFAULT_STREAM_WINDOW,
            window_pool: std::sync::Arc::new(crate::WindowPool::new(DEFAULT_WINDOW_POOL)),
            split_send_size: 65507,
            inbound_backlog: 256,
            implementation: Implementation::Own,
        }
    }
}

impl Config {
    /// The same settings on the `yamux` crate instead of our muxer.
    pub fn with_crate_impl(self) -> Self {
        Self { implementation: Implementation::Crate, ..self }
    }

    pub(crate) fn to_yamux(&self) -> yamux::Config {
        // The crate closes the connection when its stream count (which lags behind
        // dropped handles by a poll) passes its limit; we refuse our own opens at
        // `max_streams` and give the crate some slack above it.
        let max_streams = self.max_streams.max(1) + STREAM_SLACK;
        let stream_window = self.max_stream_window.clamp(INITIAL_WINDOW, MAX_FRAME_BODY);
        let mut cfg = yamux::Config::default();
        // Order matters: the crate asserts window >= streams * 256 KiB on each call.
        cfg.set_max_connection_receive_window(None);
        cfg.set_max_num_streams(max_streams);
        // The connection cap leaves exactly enough headroom for one stream to reach
        // `stream_window`, so no stream can ever be granted more than that.
        cfg.set_max_connection_receive_window(Some(max_streams * INITIAL_WINDOW + (stream_window - INITIAL_WINDOW)));
        cfg.set_split_send_size(self.split_send_size.clamp(1024, MAX_FRAME_BODY));
        cfg.set_read_after_close(true);
        cfg
    }
}
