//! The root task: the first user thread. It reads the boot info, decodes the image description
//! from the boot archive, builds every server the image describes from boot Untyped memory, starts
//! them in image order, and then serves as the supervisor, the default fault handler of every
//! server and, for servers that may call it, the `supervisor::v1` interface.
//!
//! It never panics on bad input: a missing program, a malformed or too large ELF, exhausted
//! memory or slots are logged with the server's name and that server is skipped. Without a usable
//! archive or image description, or if no server can be started, it logs why and powers off with
//! status 1.
//!
//! Modules: [`elf`] reads programs, [`untyped`] and [`slots`] hand out memory and root CNode
//! slots, [`builder`] makes objects and mappings, [`platform`] knows the machine's devices,
//! [`system`] builds the servers, [`supervisor`] handles their faults and serves
//! `supervisor::v1`.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_op_in_unsafe_fn)]

mod builder;
mod campaign;
mod elf;
mod error;
mod lifecycle;
mod patch;
mod platform;
mod policy;
mod shared;
mod slots;
mod snapshots;
mod supervisor;
mod system;
mod untyped;
mod versions;

use axolotl_abi::archive::{Archive, EntryKind};
use axolotl_image::MAX_SERVERS;
use axolotl_rt::{BootInfo, Cap, Tcb, root};
use builder::Builder;
use core::fmt;
use ipc_schema::console;
use log::{error, info, warn};
use supervisor::Supervised;
use system::BuiltServer;

axolotl_rt::declare_root_task!(main);

fn main(bootinfo: &'static BootInfo) -> ! {
    info!("Axolotl root task");
    let machine = match bootinfo.arch {
        0 => elf::EM_AARCH64,
        1 => elf::EM_X86_64,
        other => stop(format_args!("boot info names unknown architecture {other}")),
    };
    let archive = match Archive::parse(root::archive(bootinfo)) {
        Ok(archive) => archive,
        Err(e) => stop(format_args!("boot archive unreadable: {e:?}")),
    };
    let Some(entry) = archive.find(EntryKind::ImageDescription, None) else {
        stop(format_args!("boot archive has no image description"))
    };
    let image = match axolotl_image::decode(entry.data) {
        Ok(image) => image,
        Err(e) => stop(format_args!("{e}")),
    };
    let mut b = Builder::new(bootinfo);
    info!(
        "image '{}': {} servers; {} untyped regions, {} KiB free; {} free slots",
        image.name,
        image.servers.len(),
        b.pool.len(),
        b.pool.free_bytes() / 1024,
        b.slots.available()
    );

    let (supervisor_endpoint, endpoints) = match system::make_endpoints(&mut b, &image) {
        Ok(made) => made,
        Err(e) => stop(format_args!("{e}")),
    };
    if let Err(e) = shared::make(&mut b, &image) {
        stop(format_args!("shared regions: {e}"));
    }
    let mut servers: heapless::Vec<Option<BuiltServer>, MAX_SERVERS> = heapless::Vec::new();
    for (index, desc) in image.servers.iter().enumerate() {
        let built = system::build_server(
            &mut b,
            index,
            desc,
            &archive,
            machine,
            supervisor_endpoint,
            &endpoints,
            None,
        );
        let built = built
            .inspect_err(|e| {
                error!(
                    "server '{}' (program {}): {e}; skipped",
                    desc.name, desc.program
                )
            })
            .ok();
        let _ = servers.push(built);
    }
    let tcbs: heapless::Vec<Option<Cap<Tcb>>, MAX_SERVERS> =
        servers.iter().map(|s| s.as_ref().map(|s| s.tcb)).collect();
    for (index, slot) in servers.iter_mut().enumerate() {
        let Some(server) = slot else { continue };
        let granted = system::grant(
            &mut b,
            index,
            &image,
            server,
            &tcbs,
            &endpoints,
            bootinfo.counter_frequency,
        );
        if let Err(e) = granted {
            error!("server '{}': {e}; skipped", image.servers[index].name);
            *slot = None;
        }
    }

    let mut started = 0;
    for (desc, server) in image.servers.iter().zip(&servers) {
        if let Some(server) = server {
            match server.tcb.resume() {
                Ok(()) => started += 1,
                Err(e) => error!("server '{}': cannot resume: {e}", desc.name),
            }
            patch::resume_workers(server, desc);
        }
    }
    info!(
        "{started} of {} servers started; {} KiB free, {} root slots free",
        image.servers.len(),
        b.pool.free_bytes() / 1024,
        b.slots.available()
    );
    if started == 0 {
        stop(format_args!("no server could be started"));
    }
    if image.debug_root_task_fault == axolotl_image::DebugRootTaskFault::AfterStart {
        debug_fault_root_task_after_start();
    }

    let mut supervised: heapless::Vec<Supervised, MAX_SERVERS> = image
        .servers
        .iter()
        .zip(&servers)
        .enumerate()
        .map(|(index, (desc, server))| {
            let mut s = Supervised::new(
                desc.name.clone(),
                server.as_ref().map(|s| s.tcb),
                server.as_ref().and_then(|s| s.tx),
                desc.restart_after,
            );
            s.control = server
                .as_ref()
                .and_then(|s| s.control)
                .map(|_| system::control_page(index));
            s.endpoints = desc
                .endpoints
                .iter()
                .filter_map(|e| endpoints.get(e))
                .take(axolotl_rt::server_info::MAX_ENDPOINTS)
                .collect();
            s.upgrades = core::iter::once(&desc.program)
                .chain(desc.upgrades.iter())
                .cloned()
                .collect();
            s.upgradable = desc.upgradable();
            s.upgrader = image.upgrader() == Some(index);
            s.priority = desc.priority;
            s
        })
        .collect();
    // Threads and frames of the servers whose image lists `patches`, and the patcher's memory.
    for (index, (desc, s)) in image.servers.iter().zip(supervised.iter_mut()).enumerate() {
        s.patch = servers
            .get_mut(index)
            .and_then(Option::as_mut)
            .and_then(|server| patch::Patchable::new(index, desc, server));
    }
    let mut patcher = supervised
        .iter()
        .any(|s| s.patch.is_some())
        .then(|| b.split(patch::PATCHER_BITS, patch::PATCHER_SLOTS))
        .and_then(|split| {
            split
                .inspect_err(|e| error!("no memory for patches: {e}"))
                .ok()
        })
        .map(|pb| patch::Patcher {
            b: pb,
            archive: &archive,
            machine,
            supervisor: supervisor_endpoint,
        });
    // Snapshot storage for the servers whose image entry asks for it.
    for ((desc, server), s) in image
        .servers
        .iter()
        .zip(&servers)
        .zip(supervised.iter_mut())
    {
        if let Some(server) = server.as_ref().filter(|_| desc.snapshot)
            && server.tx.is_some()
        {
            match system::make_snapshot(&mut b, server.tx_pages) {
                Ok(snapshot) => s.snapshot = Some(snapshot),
                Err(e) => error!("server '{}': no snapshot storage: {e}", desc.name),
            }
        }
    }
    // The supervisor forwards log-level changes to the console server, if the image has one.
    let console = endpoints.get("console").map(console::v1::Client::new);
    let mut fleet = versions::Fleet {
        b,
        image: &image,
        archive: &archive,
        machine,
        supervisor: supervisor_endpoint,
        endpoints: &endpoints,
        counter_frequency: bootinfo.counter_frequency,
        built: servers.into_iter().map(|s| [s, None]).collect(),
        tcbs,
        spare: image.servers.iter().map(|_| None).collect(),
    };
    let code = image
        .name
        .starts_with("campaign")
        .then(|| campaign::server_code(&image, &archive, machine));
    supervisor::run(
        supervisor_endpoint,
        &mut supervised,
        console,
        &mut fleet,
        code.as_deref(),
        patcher.as_mut(),
    )
}

/// Debug only (`[image] debug_root_task_fault = "after-start"`, scenario `root-task-fault`): a
/// real fault of the root task, a load from address 0, with every server running. The root task
/// has no fault handler, so the kernel must report it (kind, pc, address) and stop the system
/// with `ROOT_TASK_FAULT_EXIT_STATUS` rather than leave the servers running unsupervised.
#[inline(never)]
fn debug_fault_root_task_after_start() {
    warn!("debug_root_task_fault = after-start: the root task now loads from address 0");
    let value = axolotl_rt::fault::null_dereference();
    // Not reached: the kernel stops the system at the fault.
    error!("the root task's load from address 0 returned {value:#x}");
}

/// Gives up: nothing more can run. Logs why and powers off with status 1.
pub fn stop(reason: fmt::Arguments) -> ! {
    error!("{reason}; stopping");
    root::sys_control().poweroff(1)
}
