//! The built servers and their versions: what the supervisor rebuilds (a restart), builds (a new
//! version for a live upgrade) and frees (an old or a discarded version).
//!
//! Each server has two version slots (`system::VERSION_SLOTS`); at boot every server is built in
//! slot 0. A live upgrade builds the new version in the other slot, from an Untyped of its own,
//! on the same service endpoints and with the slot's control endpoint, and the old version's
//! slot is freed when the upgrade commits (or the new one's when it is rolled back): revoking
//! one Untyped frees a whole version, so nothing leaks.

use crate::builder::Builder;
use crate::supervisor::{Rebuilt, Versions};
use crate::system::{self, BuiltServer, Endpoints, VERSION_SLOTS};
use axolotl_abi::archive::Archive;
use axolotl_image::{ImageDescription, MAX_SERVERS, ProgramName, ServerDesc};
use axolotl_rt::{Cap, CapRights, Endpoint, Tcb};
use log::{error, info, warn};

/// Everything needed to build a server again after boot.
pub struct Fleet<'a> {
    pub b: Builder,
    pub image: &'a ImageDescription,
    pub archive: &'a Archive<'a>,
    pub machine: u16,
    pub supervisor: Cap<Endpoint>,
    pub endpoints: &'a Endpoints,
    pub counter_frequency: u64,
    /// `built[i][slot]`: server `i`'s version in `slot`, if there is one.
    pub built: heapless::Vec<[Option<BuiltServer>; VERSION_SLOTS], MAX_SERVERS>,
    /// The TCB of each server's serving version (for `controls` grants of rebuilt servers).
    pub tcbs: heapless::Vec<Option<Cap<Tcb>>, MAX_SERVERS>,
    /// Per server, the revoked Untyped of a freed version, kept for its next version (the boot
    /// pool only hands out memory, it takes none back).
    pub spare: heapless::Vec<Option<crate::untyped::ServerMemory>, MAX_SERVERS>,
}

impl Fleet<'_> {
    /// Builds `program` as server `index`'s version in `slot`, in `memory` if given, grants it
    /// its capabilities (`import`: it starts by importing an old version's state) and starts it.
    fn build(
        &mut self,
        index: usize,
        slot: u8,
        program: &ProgramName,
        import: bool,
        memory: Option<crate::untyped::ServerMemory>,
    ) -> Option<Rebuilt> {
        let image_desc = self.image.servers.get(index)?;
        let desc = ServerDesc {
            program: program.clone(),
            ..image_desc.clone()
        };
        let mut server = system::build_version(
            &mut self.b,
            index,
            &desc,
            self.archive,
            self.machine,
            self.supervisor,
            self.endpoints,
            memory,
            slot,
        )
        .inspect_err(|e| error!("build of '{}' (program {program}): {e}", desc.name))
        .ok()?;
        server.import = import;
        system::grant(
            &mut self.b,
            index,
            self.image,
            &mut server,
            &self.tcbs,
            self.endpoints,
            self.counter_frequency,
        )
        .inspect_err(|e| error!("build of '{}' (program {program}): {e}", desc.name))
        .ok()?;
        server.tcb.resume().ok()?;
        crate::patch::resume_workers(&server, &desc);
        let rebuilt = Rebuilt {
            tcb: server.tcb,
            tx: server.tx,
            control: server
                .control
                .map(|_| system::version_control_page(index, slot)),
            patch: crate::patch::Patchable::new(index, &desc, &mut server),
        };
        let slots = self.built.get_mut(index)?;
        slots[usize::from(slot) % VERSION_SLOTS] = Some(server);
        Some(rebuilt)
    }
}

impl Versions for Fleet<'_> {
    fn restart(&mut self, index: usize, slot: u8) -> Option<Rebuilt> {
        let s = usize::from(slot) % VERSION_SLOTS;
        // The old generation goes with its Untyped: revoking it deletes every object made from
        // it (thread, address space, memory, region, and the root's copy of its info page,
        // which unmaps the control page); their root slots are then empty.
        let old = self.built.get_mut(index).and_then(|v| v[s].take());
        let program = old
            .as_ref()
            .map(|o| o.program.clone())
            .or_else(|| self.image.servers.get(index).map(|d| d.program.clone()))?;
        let memory = old.and_then(|old| system::free_server(&mut self.b, old));
        let reused = memory.as_ref().and_then(|m| m.only()).map(|(_, bits)| bits);
        let rebuilt = self.build(index, slot, &program, false, memory)?;
        if let Some(t) = self.tcbs.get_mut(index) {
            *t = Some(rebuilt.tcb);
        }
        let name = &self.image.servers[index].name;
        let now = self.built[index][s]
            .as_ref()
            .and_then(|v| v.memory.as_ref())
            .and_then(|m| m.only())
            .map(|(_, bits)| bits);
        match (reused, now) {
            (Some(old), Some(new)) if old == new => info!(
                "'{name}' rebuilt in the Untyped of its previous generation (2^{new} bytes); {} \
                 KiB free, {} root slots free",
                self.b.pool.free_bytes() / 1024,
                self.b.slots.available()
            ),
            _ => info!(
                "'{name}' rebuilt in a new Untyped; {} KiB free, {} root slots free",
                self.b.pool.free_bytes() / 1024,
                self.b.slots.available()
            ),
        }
        Some(rebuilt)
    }

    fn build_version(&mut self, index: usize, slot: u8, program: &str) -> Option<Rebuilt> {
        let program = ProgramName::try_from(program).ok()?;
        let free_before = self.b.pool.free_bytes();
        let spare = self.spare.get_mut(index).and_then(Option::take);
        let reused = spare.as_ref().and_then(|m| m.only()).map(|(_, bits)| bits);
        let rebuilt = self.build(index, slot, &program, true, spare)?;
        let bits = self.built[index][usize::from(slot) % VERSION_SLOTS]
            .as_ref()
            .and_then(|v| v.memory.as_ref())
            .and_then(|m| m.only())
            .map_or(0, |(_, bits)| bits);
        let whose = if reused == Some(bits) {
            "the Untyped of a freed version"
        } else {
            "a fresh Untyped"
        };
        info!(
            "'{}': new version (program {program}) built in slot {slot}, in {whose} (2^{bits} \
             bytes); {} KiB free (was {})",
            self.image.servers[index].name,
            self.b.pool.free_bytes() / 1024,
            free_before / 1024
        );
        Some(rebuilt)
    }

    fn free_version(&mut self, index: usize, slot: u8) -> bool {
        let Some(version) = self
            .built
            .get_mut(index)
            .and_then(|v| v[usize::from(slot) % VERSION_SLOTS].take())
        else {
            return false;
        };
        let program = version.program.clone();
        let freed = system::free_server(&mut self.b, version);
        match freed {
            Some(memory) => {
                let bits = memory.only().map_or(0, |(_, bits)| bits);
                if let Some(spare) = self.spare.get_mut(index) {
                    *spare = Some(memory);
                }
                info!(
                    "'{}': version in slot {slot} (program {program}) freed: its Untyped (2^{bits} \
                     bytes) revoked and kept for the next version; {} root slots free",
                    self.image.servers[index].name,
                    self.b.slots.available()
                );
                true
            }
            None => false,
        }
    }

    fn carry_caps(&mut self, index: usize, from: u8, to: u8, clear: bool) -> Option<u32> {
        let desc = self.image.servers.get(index)?;
        let versions = self.built.get(index)?;
        let src = versions[usize::from(from) % VERSION_SLOTS].as_ref()?;
        let dst = versions[usize::from(to) % VERSION_SLOTS].as_ref()?;
        if !desc.own_cnode {
            // Without its own CNode a server cannot fill a slot: nothing to carry.
            return Some(0);
        }
        let (mut copied, mut refused) = (0u32, 0u32);
        // Both versions were granted the same capabilities in the same order.
        let start = src.empty_start.max(dst.empty_start);
        for slot in start..system::CNodeFiller::END {
            if clear {
                // An empty slot: nothing to delete (harmless).
                let _ = dst.cnode.delete(slot);
            }
            let mut result = dst.cnode.copy(slot, src.cnode, slot, CapRights::ALL);
            if result == Err(axolotl_rt::Error::DeleteFirst) {
                // Filled by an earlier carry (the op is idempotent): replace it.
                let _ = dst.cnode.delete(slot);
                result = dst.cnode.copy(slot, src.cnode, slot, CapRights::ALL);
            }
            match result {
                Ok(()) => copied += 1,
                // An empty slot of the source.
                Err(axolotl_rt::Error::FailedLookup) => {}
                Err(_) => refused += 1,
            }
        }
        if refused > 0 {
            warn!(
                "'{}': {refused} capabilities could not be copied to the version in slot {to}",
                desc.name
            );
        }
        info!(
            "'{}': {copied} capabilities of the version in slot {from} (slots {start}..) copied \
             to the version in slot {to} at the same indices",
            desc.name
        );
        Some(copied)
    }
}
