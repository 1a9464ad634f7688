//! The server side of a live upgrade: [`Upgradable`], what a server's state must offer, and
//! [`Agent`], which serves `upgrade::v1` for it and tells the server loop which endpoint to
//! receive on next.
//!
//! A server that opts in keeps an [`Agent`] beside its state and, for each message, asks
//! [`Agent::route`] what it is: an upgrade request (served by [`Agent::serve`]), a request for
//! the server's own interfaces (served as usual), or a message the server must refuse (a client
//! request while the server is frozen cannot arrive on the control endpoint; anything else
//! there gets `UnknownInterface`). After each reply the loop receives on
//! [`Agent::channel`]: the service endpoint while serving, the control endpoint while frozen
//! or before a new version has taken over.
//!
//! Modes:
//!
//! | mode | receives on | accepts (upgrade::v1) |
//! |---|---|---|
//! | serving | service endpoint | `formats`, `freeze` (badge 0 only) |
//! | frozen | control endpoint | `formats`, `export`, `import` (state carried back), `serve` (resume: rollback) |
//! | importing (a new version before it serves) | control endpoint | `formats`, `import`, `serve` once an import succeeded |
//!
//! The encoded state is staged in the agent's buffer of `N` bytes: the exporter encodes once, at
//! offset 0, and slices; the importer appends chunks in order and decodes on the last. A failed
//! import leaves the server's state as it was.

use crate::format::{Format, FormatSet};
use ipc_schema::upgrade::v1::{self, CHUNK_LEN, Chunk, ExportChunk, Formats, UpgradeError};
use ipc_schema::{Caller, IpcError, Label, MSG_WORDS};

/// Why a state could not be exported or imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferError {
    /// This version cannot export (or import) that format.
    UnsupportedFormat(Format),
    /// The encoding does not fit the buffer.
    BufferTooSmall,
    /// The bytes do not decode in that format.
    Decode,
    /// The decoded state breaks an invariant, or cannot be migrated to this version.
    Invalid,
}

impl core::fmt::Display for TransferError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TransferError::UnsupportedFormat(n) => write!(f, "format {} unsupported", n.0),
            TransferError::BufferTooSmall => f.write_str("buffer too small"),
            TransferError::Decode => f.write_str("does not decode"),
            TransferError::Invalid => f.write_str("invalid state"),
        }
    }
}

/// A server's state, movable between versions of the server.
pub trait Upgradable: Sized {
    /// Formats this version can export its state in.
    const EXPORTS: FormatSet;
    /// Formats it can import a state from.
    const IMPORTS: FormatSet;
    /// Its import formats, most preferred first.
    const PREFERENCE: &'static [u8];

    /// Encodes the state in `format` into `out`; returns the length used.
    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError>;

    /// Builds a state from `bytes` in `format` (decoding, migrating from an older version's
    /// state if that is what the format holds, and checking invariants).
    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError>;

    /// The formats as `upgrade::v1::formats` reports them.
    fn formats() -> Formats {
        let mut preference = heapless::Vec::new();
        for &n in Self::PREFERENCE.iter().take(v1::PREFERENCE_LEN) {
            let _ = preference.push(n);
        }
        Formats {
            export: Self::EXPORTS.0,
            import: Self::IMPORTS.0,
            preference,
        }
    }
}

/// Which endpoint a message came in on, or the loop is to receive on next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The endpoint clients call.
    Service,
    /// The endpoint only the supervisor calls.
    Control,
}

impl Channel {
    /// The channel of endpoint `index` of a loop receiving on `[service, control]`
    /// (`axolotl_rt::ipc_transport::serve_switching`).
    pub const fn of_index(index: usize) -> Channel {
        if index == 0 {
            Channel::Service
        } else {
            Channel::Control
        }
    }

    /// Its index in `[service, control]`.
    pub const fn index(self) -> usize {
        match self {
            Channel::Service => 0,
            Channel::Control => 1,
        }
    }
}

/// What the server is doing, as far as upgrades go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Serving,
    Frozen,
    /// A new version waiting for its state; `imported`: it has one.
    Importing {
        imported: bool,
    },
}

/// What to do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// An `upgrade` request: [`Agent::serve`].
    Upgrade,
    /// A request for the server's own interfaces: serve it as usual.
    Service,
    /// Answer with this error and do not serve it.
    Refuse(IpcError),
}

/// The server side of the upgrade protocol, with a staging buffer of `N` bytes (at least the
/// largest encoded state).
#[derive(Clone, Debug)]
pub struct Agent<const N: usize> {
    mode: Mode,
    has_control: bool,
    staging: heapless::Vec<u8, N>,
    /// The format of what is staged (export: encoded at offset 0; import: named at offset 0).
    staged_format: Option<u8>,
}

impl<const N: usize> Agent<N> {
    /// A server started normally: serving. `has_control`: it has a control endpoint (without
    /// one it cannot freeze, and refuses `freeze` with `WrongMode`).
    pub fn serving(has_control: bool) -> Agent<N> {
        Agent {
            mode: Mode::Serving,
            has_control,
            staging: heapless::Vec::new(),
            staged_format: None,
        }
    }

    /// A new version started to take over: it waits on its control endpoint for its state.
    pub fn importing() -> Agent<N> {
        Agent {
            mode: Mode::Importing { imported: false },
            has_control: true,
            staging: heapless::Vec::new(),
            staged_format: None,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The endpoint to receive on next.
    pub fn channel(&self) -> Channel {
        match self.mode {
            Mode::Serving => Channel::Service,
            Mode::Frozen | Mode::Importing { .. } => Channel::Control,
        }
    }

    /// What to do with a message with `label` that came in on `channel`.
    pub fn route(&self, channel: Channel, label: u64) -> Route {
        let is_upgrade = Label::from_u64(label).is_some_and(|l| l.interface == v1::INTERFACE);
        match (channel, is_upgrade) {
            (_, true) => Route::Upgrade,
            (Channel::Service, false) if self.mode == Mode::Serving => Route::Service,
            // A client's request reached a server that no longer serves (a control endpoint
            // capability given to a client, or a message received before a mode change): it
            // is answered, not lost, and the client may retry.
            (Channel::Service, false) => Route::Refuse(IpcError::ServerUnavailable),
            (Channel::Control, false) => Route::Refuse(IpcError::UnknownInterface),
        }
    }

    /// Serves one `upgrade::v1` request that came in on `channel` for `state`.
    pub fn serve<S: Upgradable>(
        &mut self,
        state: &mut S,
        channel: Channel,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        let mut session = Session {
            agent: self,
            state,
            channel,
        };
        v1::dispatch(&mut session, caller, label, request, reply)
    }

    /// Serves any message: upgrade requests through [`Agent::serve`], the server's own through
    /// `service`, the rest refused. The loop then receives on [`Agent::channel`].
    #[allow(clippy::too_many_arguments)]
    pub fn handle<S: Upgradable, F>(
        &mut self,
        state: &mut S,
        channel: Channel,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
        service: F,
    ) -> (u64, usize)
    where
        F: FnOnce(&mut S, &mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize),
    {
        self.handle_in(
            state,
            |s| s,
            channel,
            caller,
            label,
            request,
            reply,
            service,
        )
    }

    /// [`Agent::handle`] for a server whose upgradable state is one part of what serves
    /// (`state_of` picks it out of `server`: a name service's registry, beside the CNode its
    /// capabilities are in).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_in<T, S: Upgradable, G, F>(
        &mut self,
        server: &mut T,
        state_of: G,
        channel: Channel,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
        service: F,
    ) -> (u64, usize)
    where
        G: FnOnce(&mut T) -> &mut S,
        F: FnOnce(&mut T, &mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize),
    {
        match self.route(channel, label) {
            Route::Upgrade => self.serve(state_of(server), channel, caller, label, request, reply),
            Route::Service => service(server, caller, label, request, reply),
            Route::Refuse(e) => e.reply(),
        }
    }
}

/// One request's view: the agent, the state, and where the request came from.
struct Session<'a, S, const N: usize> {
    agent: &'a mut Agent<N>,
    state: &'a mut S,
    channel: Channel,
}

impl<S, const N: usize> Session<'_, S, N> {
    /// Upgrade ops on the service endpoint are for the supervisor's unbadged capability only.
    fn check_caller(&self, caller: &Caller) -> Result<(), UpgradeError> {
        if self.channel == Channel::Service && caller.badge() != 0 {
            return Err(UpgradeError::NotSupervisor);
        }
        Ok(())
    }

    fn check_control(&self, caller: &Caller) -> Result<(), UpgradeError> {
        self.check_caller(caller)?;
        if self.channel != Channel::Control || self.agent.mode == Mode::Serving {
            return Err(UpgradeError::WrongMode);
        }
        Ok(())
    }
}

impl<S: Upgradable, const N: usize> v1::Server for Session<'_, S, N> {
    fn formats(&mut self, caller: &mut Caller) -> Result<Formats, UpgradeError> {
        self.check_caller(caller)?;
        Ok(S::formats())
    }

    fn freeze(&mut self, caller: &mut Caller) -> Result<(), UpgradeError> {
        self.check_caller(caller)?;
        if self.channel != Channel::Service
            || self.agent.mode != Mode::Serving
            || !self.agent.has_control
        {
            return Err(UpgradeError::WrongMode);
        }
        self.agent.mode = Mode::Frozen;
        self.agent.staging.clear();
        self.agent.staged_format = None;
        Ok(())
    }

    fn export(
        &mut self,
        caller: &mut Caller,
        format: u8,
        offset: u32,
    ) -> Result<ExportChunk, UpgradeError> {
        self.check_control(caller)?;
        if self.agent.mode != Mode::Frozen {
            return Err(UpgradeError::WrongMode);
        }
        if !S::EXPORTS.contains(Format(format)) {
            return Err(UpgradeError::UnsupportedFormat(format));
        }
        let agent = &mut *self.agent;
        if offset == 0 {
            agent.staged_format = None;
            agent.staging.clear();
            // Cannot fail: N is the capacity.
            let _ = agent.staging.resize(N, 0);
            match self.state.export(Format(format), &mut agent.staging) {
                Ok(len) => agent.staging.truncate(len.min(N)),
                Err(e) => {
                    agent.staging.clear();
                    return Err(match e {
                        TransferError::BufferTooSmall => UpgradeError::TooLarge,
                        TransferError::UnsupportedFormat(_) => {
                            UpgradeError::UnsupportedFormat(format)
                        }
                        TransferError::Decode | TransferError::Invalid => {
                            UpgradeError::ExportFailed
                        }
                    });
                }
            }
            agent.staged_format = Some(format);
        }
        if agent.staged_format != Some(format) {
            // Export restarts at offset 0 for each format.
            return Err(UpgradeError::BadOffset);
        }
        let offset = offset as usize;
        if offset > agent.staging.len() {
            return Err(UpgradeError::BadOffset);
        }
        let end = (offset + CHUNK_LEN).min(agent.staging.len());
        Ok(ExportChunk {
            // Cannot fail: at most CHUNK_LEN bytes.
            bytes: Chunk::from_slice(&agent.staging[offset..end]).unwrap_or_default(),
            total: agent.staging.len() as u32,
        })
    }

    fn import(
        &mut self,
        caller: &mut Caller,
        format: u8,
        offset: u32,
        chunk: Chunk,
        last: bool,
    ) -> Result<(), UpgradeError> {
        self.check_control(caller)?;
        if !S::IMPORTS.contains(Format(format)) {
            return Err(UpgradeError::UnsupportedFormat(format));
        }
        let agent = &mut *self.agent;
        if offset == 0 {
            agent.staging.clear();
            agent.staged_format = Some(format);
        } else if agent.staged_format != Some(format) || offset as usize != agent.staging.len() {
            return Err(UpgradeError::BadOffset);
        }
        if agent.staging.extend_from_slice(&chunk).is_err() {
            agent.staging.clear();
            agent.staged_format = None;
            return Err(UpgradeError::TooLarge);
        }
        if !last {
            return Ok(());
        }
        let result = S::import(Format(format), &agent.staging);
        agent.staging.clear();
        agent.staged_format = None;
        *self.state = result.map_err(|_| UpgradeError::ImportFailed)?;
        if let Mode::Importing { .. } = agent.mode {
            agent.mode = Mode::Importing { imported: true };
        }
        Ok(())
    }

    fn serve(&mut self, caller: &mut Caller) -> Result<(), UpgradeError> {
        self.check_control(caller)?;
        if self.agent.mode == (Mode::Importing { imported: false }) {
            return Err(UpgradeError::WrongMode);
        }
        self.agent.mode = Mode::Serving;
        self.agent.staging.clear();
        self.agent.staged_format = None;
        Ok(())
    }
}
