//! Confinement, derived from an image description alone (host only): what capabilities the root
//! task gives each server, who can therefore talk to whom, and whose memory each can map.
//!
//! [`grants`] is the model of `root-task/src/system.rs` (`build_server` and `grant`): per server,
//! the capabilities placed in its CNode, in order, plus the fault endpoint its TCB holds. The
//! root task logs what it granted (`caps: ...`), and `cargo xtask test` compares that line of
//! every scenario run with [`caps_summary`], so the model cannot drift from the root task
//! unnoticed.
//!
//! [`analyse`] derives the communication graph: a server can *send* to another when it holds a
//! capability to an endpoint the other receives on (`calls`), or is its fault handler's client
//! (its faults go there). Capabilities travel only in IPC over endpoints whose capability has the
//! grant right (calls are minted WRITE|GRANT, so a caller and its server can hand each other
//! capabilities in both directions), and a TCB capability (`controls`) can rewrite the controlled
//! thread's CSpace. So authority can spread only inside a connected component of the graph of
//! calls, fault handlers and controls, and two servers in different components can never
//! communicate, whatever they do. The root task (supervisor endpoint) is trusted: it never
//! transfers capabilities, so `calls = ["supervisor"]` connects nobody.
//!
//! Live upgrade adds two kinds of grant. An upgradable server (`upgrades = [...]`) gets an
//! upgrade control endpoint to receive on (its own: nobody else receives there). The image's
//! `upgrader` is a trusted component, modelled explicitly: for each upgradable server it holds
//! an unbadged, WRITE-only call of the server's service endpoint (badge 0, so `upgrade::v1`'s
//! `freeze` is accepted from it; no GRANT, so no capability travels either way) and WRITE-only
//! calls of the server's two control endpoints (old and new versions alternate between them). So
//! the upgrader can send to every upgradable server and is linked with it, like a caller; it is
//! the only server that can stop one (freeze) or replace its state, which is the authority an
//! upgrade needs and no more: it cannot map their memory, hold their TCBs or spread capabilities.
//! Capabilities a server gathered at run time in its own CNode (`own_cnode`: the name service's
//! registrations) are carried to its new version by the root task (`lifecycle::carry_caps`, at
//! the upgrader's request), never through the upgrader: both versions are the same server here,
//! the new one holds what the old one held, and the old one's copies go with it, so an upgrade
//! adds no edge to the graph. The upgrader only names the server; it never holds those
//! capabilities.
//!
//! Memory: a server's frames, page tables, VSpace and CNode are made for it alone and never
//! granted to another; the only memory capabilities in a CNode are its own CNode, a fresh Untyped
//! of its own and the registers of devices, each device granted to one server only. [`analyse`]
//! checks that from the model.

use crate::{FaultHandler, ImageDescription, SUPERVISOR_ENDPOINT};
use std::fmt::Write;

/// One capability the root task gives a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Its own TCB (always, slot 1).
    OwnTcb,
    /// An endpoint it receives on (all rights).
    Endpoint(String),
    /// An endpoint it calls: WRITE|GRANT, badged with [`call_badge`]; `owner` is the receiving
    /// server (`None`: the root task's supervisor endpoint).
    Call {
        endpoint: String,
        owner: Option<usize>,
        badge: u64,
    },
    /// The TCB of another server.
    Control(usize),
    OwnCNode,
    SysControl,
    /// A fresh Untyped of 2^bits bytes retyped for it alone.
    Untyped(u8),
    /// Its upgrade control endpoint (an upgradable server: `upgrades = [...]`), all rights.
    UpgradeControl,
    /// The upgrader's grants for upgradable server `server`: a badge-0 WRITE call of its service
    /// endpoint (its first) and WRITE calls of its two control endpoints.
    Upgrades {
        server: usize,
    },
    /// A platform device: its IRQ handler, and its registers or I/O ports.
    Device(String),
}

/// The badge a server's calls carry (`axolotl_rt::server_info::call_badge`).
pub const fn call_badge(index: usize) -> u64 {
    1 + index as u64
}

/// The capabilities the root task places in each server's CNode, in slot order from slot 1
/// (see the module documentation).
pub fn grants(desc: &ImageDescription) -> Vec<Vec<Grant>> {
    let owner = |endpoint: &str| {
        desc.servers
            .iter()
            .position(|s| s.endpoints.iter().any(|e| e.as_str() == endpoint))
    };
    desc.servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut g = vec![Grant::OwnTcb];
            g.extend(s.endpoints.iter().map(|e| Grant::Endpoint(e.to_string())));
            g.extend(s.calls.iter().map(|e| Grant::Call {
                endpoint: e.to_string(),
                owner: owner(e),
                badge: call_badge(i),
            }));
            g.extend(s.controls.iter().filter_map(|c| {
                desc.servers
                    .iter()
                    .position(|t| t.name == *c)
                    .map(Grant::Control)
            }));
            if s.own_cnode {
                g.push(Grant::OwnCNode);
            }
            if s.poweroff {
                g.push(Grant::SysControl);
            }
            if s.untyped_bits != 0 {
                g.push(Grant::Untyped(s.untyped_bits));
            }
            if s.upgradable() {
                g.push(Grant::UpgradeControl);
            }
            if s.upgrader {
                g.extend(desc.upgradable().map(|server| Grant::Upgrades { server }));
            }
            g.extend(s.devices.iter().map(|d| Grant::Device(d.to_string())));
            g
        })
        .collect()
}

/// What the root task logs as a server's capabilities, up to its devices (whose details depend
/// on the machine): `own tcb, endpoint e, calls f (badge 2), controls s, own cnode, sys control,
/// untyped 2^16`.
pub fn caps_summary(desc: &ImageDescription, index: usize) -> String {
    let mut out = String::new();
    for g in &grants(desc)[index] {
        if !out.is_empty() && !matches!(g, Grant::Device(_)) {
            out.push_str(", ");
        }
        let _ = match g {
            Grant::OwnTcb => write!(out, "own tcb"),
            Grant::Endpoint(e) => write!(out, "endpoint {e}"),
            Grant::Call {
                endpoint, badge, ..
            } => write!(out, "calls {endpoint} (badge {badge})"),
            Grant::Control(t) => write!(out, "controls {}", desc.servers[*t].name),
            Grant::OwnCNode => write!(out, "own cnode"),
            Grant::SysControl => write!(out, "sys control"),
            Grant::Untyped(bits) => write!(out, "untyped 2^{bits}"),
            Grant::UpgradeControl => write!(out, "upgrade control"),
            Grant::Upgrades { server } => write!(
                out,
                "upgrades {} (badge 0, 2 controls)",
                desc.servers[*server].name
            ),
            Grant::Device(_) => Ok(()),
        };
    }
    out
}

/// The communication graph of an image and what it implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub names: Vec<String>,
    /// `sends[a][b]`: server `a` holds a capability that delivers messages to server `b`.
    pub sends: Vec<Vec<bool>>,
    /// Connected component of each server (authority can spread only inside one).
    pub component: Vec<usize>,
}

impl Authority {
    /// Pairs (a < b) of servers that can never communicate, directly or through others.
    pub fn isolated_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.names.len();
        (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| self.component[a] != self.component[b])
            .collect()
    }

    /// Pairs (a < b) with no direct capability either way that could still be connected by
    /// cooperating servers between them (e.g. clients of a name service).
    pub fn indirect_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.names.len();
        (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| {
                self.component[a] == self.component[b] && !self.sends[a][b] && !self.sends[b][a]
            })
            .collect()
    }
}

/// Derives the communication graph from [`grants`] and checks confinement: every direct channel
/// is one the description names (a call, a fault handler, a control), no server is given memory
/// of another (devices are granted once), and no server can reach one in another component.
pub fn analyse(desc: &ImageDescription) -> Result<Authority, String> {
    let n = desc.servers.len();
    let grants = grants(desc);
    let mut sends = vec![vec![false; n]; n];
    let mut linked = vec![vec![false; n]; n];
    let mut device_holder: Vec<(String, usize)> = Vec::new();
    for (a, held) in grants.iter().enumerate() {
        let s = &desc.servers[a];
        for g in held {
            match g {
                Grant::Call {
                    endpoint,
                    owner: Some(b),
                    ..
                } => {
                    if !s.calls.iter().any(|c| c == endpoint.as_str()) {
                        return Err(format!(
                            "{}: holds an undeclared call of {endpoint}",
                            s.name
                        ));
                    }
                    sends[a][*b] = true;
                    linked[a][*b] = true;
                }
                Grant::Call {
                    endpoint,
                    owner: None,
                    ..
                } if endpoint != SUPERVISOR_ENDPOINT => {
                    return Err(format!("{}: calls {endpoint}, which nobody serves", s.name));
                }
                Grant::Upgrades { server: b } => {
                    if !s.upgrader || !desc.servers[*b].upgradable() {
                        return Err(format!(
                            "{}: holds upgrade grants of {} without being the upgrader of an \
                             upgradable server",
                            s.name, desc.servers[*b].name
                        ));
                    }
                    // WRITE only: it sends (freeze, export, import, serve), nothing travels.
                    sends[a][*b] = true;
                    linked[a][*b] = true;
                }
                Grant::Control(b) => {
                    // A TCB capability can give the thread another CSpace: full authority.
                    sends[a][*b] = true;
                    sends[*b][a] = true;
                    linked[a][*b] = true;
                }
                Grant::Device(d) => {
                    if let Some((_, other)) = device_holder.iter().find(|(x, _)| x == d) {
                        return Err(format!(
                            "device {d} granted to both {} and {}",
                            desc.servers[*other].name, s.name
                        ));
                    }
                    device_holder.push((d.clone(), a));
                }
                _ => {}
            }
        }
        if let FaultHandler::Endpoint(ep) = &s.fault_handler {
            let Some(b) = desc
                .servers
                .iter()
                .position(|t| t.endpoints.iter().any(|e| e == ep))
            else {
                return Err(format!(
                    "{}: fault handler {ep} is nobody's endpoint",
                    s.name
                ));
            };
            // Its faults reach b, and b's reply (with register changes) steers it.
            sends[a][b] = true;
            linked[a][b] = true;
        }
    }
    // A shared region is a channel both ways between its two servers: either writes what the
    // other reads. It is the only memory of one server another can map.
    for r in &desc.shared {
        let index = |name: &str| desc.servers.iter().position(|s| s.name == name);
        let (Some(a), Some(b)) = (index(&r.servers[0]), index(&r.servers[1])) else {
            return Err(format!("shared region {} names an unknown server", r.name));
        };
        sends[a][b] = true;
        sends[b][a] = true;
        linked[a][b] = true;
    }
    // Connected components over the links (undirected).
    let mut component: Vec<usize> = (0..n).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for a in 0..n {
            for b in 0..n {
                if (linked[a][b] || linked[b][a]) && component[a] != component[b] {
                    let m = component[a].min(component[b]);
                    component[a] = m;
                    component[b] = m;
                    changed = true;
                }
            }
        }
    }
    // Memory: the only memory-bearing grants are the server's own CNode, its own fresh Untyped
    // and devices (checked exclusive above); nothing in `Grant` names another server's memory.
    // Shared regions are mapped without a capability, into their two servers only, and count
    // as channels above.
    Ok(Authority {
        names: desc.servers.iter().map(|s| s.name.to_string()).collect(),
        sends,
        component,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text: &str) -> ImageDescription {
        crate::parse("t.toml", text).unwrap().0
    }

    const THREE: &str = r#"
[image]
name = "t"
[[server]]
name = "a"
program = "a"
endpoints = ["a"]
[[server]]
name = "b"
program = "b"
calls = ["a", "supervisor"]
own_cnode = true
untyped_bits = 16
[[server]]
name = "c"
program = "c"
endpoints = ["c"]
calls = ["supervisor"]
poweroff = true
"#;

    #[test]
    fn grants_follow_the_root_task_order() {
        let d = image(THREE);
        assert_eq!(caps_summary(&d, 0), "own tcb, endpoint a");
        assert_eq!(
            caps_summary(&d, 1),
            "own tcb, calls a (badge 2), calls supervisor (badge 2), own cnode, untyped 2^16"
        );
        assert_eq!(
            caps_summary(&d, 2),
            "own tcb, endpoint c, calls supervisor (badge 3), sys control"
        );
    }

    const UPGRADE: &str = r#"
[image]
name = "t"
[[server]]
name = "kv"
program = "kv1"
endpoints = ["kv"]
upgrades = ["kv2", "kv3"]
[[server]]
name = "other"
program = "o"
endpoints = ["other"]
[[server]]
name = "upgrader"
program = "upgrader"
endpoints = ["upgrader"]
calls = ["supervisor"]
upgrader = true
"#;

    #[test]
    fn the_upgrader_is_modelled_explicitly() {
        let d = image(UPGRADE);
        assert_eq!(caps_summary(&d, 0), "own tcb, endpoint kv, upgrade control");
        assert_eq!(caps_summary(&d, 1), "own tcb, endpoint other");
        assert_eq!(
            caps_summary(&d, 2),
            "own tcb, endpoint upgrader, calls supervisor (badge 3), upgrades kv (badge 0, 2 \
             controls)"
        );
        let a = analyse(&d).unwrap();
        // The upgrader reaches the upgradable server, and only it.
        assert!(a.sends[2][0] && !a.sends[0][2]);
        assert!(!a.sends[2][1]);
        assert_eq!(a.isolated_pairs(), vec![(0, 1), (1, 2)]);
        // Upgrade grants held by a server that is not the upgrader are refused.
        let mut forged = d.clone();
        forged.servers[2].upgrader = false;
        let grants = grants(&d);
        assert!(grants[2].contains(&Grant::Upgrades { server: 0 }));
        assert!(!super::grants(&forged)[2].contains(&Grant::Upgrades { server: 0 }));
    }

    #[test]
    fn an_upgradable_name_service_gives_the_upgrader_no_capability_it_keeps() {
        let d = image(
            r#"
[image]
name = "t"
[[server]]
name = "name"
program = "name"
endpoints = ["name"]
own_cnode = true
upgrades = ["name2"]
[[server]]
name = "kv"
program = "kv"
endpoints = ["kv"]
calls = ["name"]
own_cnode = true
[[server]]
name = "upgrader"
program = "upgrader"
endpoints = ["upgrader"]
calls = ["supervisor"]
upgrader = true
"#,
        );
        assert_eq!(
            caps_summary(&d, 0),
            "own tcb, endpoint name, own cnode, upgrade control"
        );
        let a = analyse(&d).unwrap();
        // The upgrader reaches the name service (WRITE only, badge 0) and nobody else: the
        // capabilities registered with the name service are carried between its versions by
        // the root task, never through the upgrader.
        assert!(a.sends[2][0] && !a.sends[2][1] && !a.sends[0][2]);
        assert!(!grants(&d)[2].iter().any(|g| *g == Grant::OwnCNode));
        assert!(a.sends[1][0]);
    }

    #[test]
    fn servers_without_a_path_are_isolated() {
        let a = analyse(&image(THREE)).unwrap();
        assert!(a.sends[1][0] && !a.sends[0][1]);
        // The supervisor connects nobody: c is isolated from a and b.
        assert_eq!(a.isolated_pairs(), vec![(0, 2), (1, 2)]);
        assert!(a.indirect_pairs().is_empty());
    }

    #[test]
    fn a_shared_server_connects_its_clients_indirectly() {
        let d = image(
            r#"
[image]
name = "t"
[[server]]
name = "name"
program = "name"
endpoints = ["name"]
[[server]]
name = "x"
program = "x"
calls = ["name"]
[[server]]
name = "y"
program = "y"
calls = ["name"]
[[server]]
name = "z"
program = "z"
fault_handler = "none"
"#,
        );
        let a = analyse(&d).unwrap();
        assert_eq!(a.indirect_pairs(), vec![(1, 2)]);
        assert_eq!(a.isolated_pairs(), vec![(0, 3), (1, 3), (2, 3)]);
    }

    #[test]
    fn controls_and_fault_handlers_link_both_ways() {
        let d = image(
            r#"
[image]
name = "t"
[[server]]
name = "p"
program = "p"
fault_handler = "v"
[[server]]
name = "q"
program = "q"
endpoints = ["v"]
controls = ["p"]
"#,
        );
        let a = analyse(&d).unwrap();
        assert!(a.sends[0][1] && a.sends[1][0]);
        assert!(a.isolated_pairs().is_empty());
    }

    #[test]
    fn a_shared_region_is_a_channel_both_ways() {
        let d = image(
            r#"
            [image]
            name = "t"
            [[server]]
            name = "a"
            program = "a"
            [[server]]
            name = "b"
            program = "b"
            [[server]]
            name = "c"
            program = "c"
            [[shared]]
            name = "buf"
            pages = 4
            servers = ["a", "b"]
            "#,
        );
        let auth = analyse(&d).unwrap();
        assert!(auth.sends[0][1] && auth.sends[1][0]);
        assert!(!auth.sends[0][2] && !auth.sends[2][0]);
        assert_eq!(auth.isolated_pairs(), vec![(0, 2), (1, 2)]);
        let regions: Vec<_> = d
            .shared_regions_of("b")
            .map(|(at, r)| (at, r.pages))
            .collect();
        assert_eq!(regions, vec![(0, 4)]);
        assert_eq!(d.shared_regions_of("c").count(), 0);
    }

    #[test]
    fn broken_shared_regions_are_one_line_errors_naming_the_field() {
        let base = r#"
            [image]
            name = "t"
            [[server]]
            name = "a"
            program = "a"
            [[server]]
            name = "b"
            program = "b"
            transactional = true
            endpoints = ["b"]
            "#;
        let cases = [
            (
                "name = \"x\"\npages = 0\nservers = [\"a\", \"b\"]",
                "shared[0].pages: 0 is out of range",
            ),
            (
                "name = \"x\"\npages = 1\nservers = [\"a\"]",
                "shared[0].servers: lists 1 servers",
            ),
            (
                "name = \"x\"\npages = 1\nservers = [\"a\", \"a\"]",
                "shared.servers: 'a' is listed twice",
            ),
            (
                "name = \"x\"\npages = 1\nservers = [\"a\", \"z\"]",
                "shared.servers: no server is named 'z'",
            ),
            (
                "name = \"x\"\npages = 1\nservers = [\"a\", \"b\"]",
                "shared.servers: server 'b' is transactional",
            ),
            (
                "name = \"X\"\npages = 1\nservers = [\"a\", \"b\"]",
                "shared[0].name: contains 'X'",
            ),
        ];
        for (table, expected) in cases {
            let text = format!("{base}\n[[shared]]\n{table}\n");
            let e = crate::parse("t.toml", &text).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn the_debug_root_task_fault_flag_parses() {
        let d = image(THREE);
        assert_eq!(d.debug_root_task_fault, crate::DebugRootTaskFault::Never);
        let d = image(&THREE.replace(
            "name = \"t\"\n[[server]]",
            "name = \"t\"\ndebug_root_task_fault = \"after-start\"\n[[server]]",
        ));
        assert_eq!(
            d.debug_root_task_fault,
            crate::DebugRootTaskFault::AfterStart
        );
        assert!(
            crate::parse(
                "t.toml",
                &THREE.replace(
                    "name = \"t\"\n",
                    "name = \"t\"\ndebug_root_task_fault = \"later\"\n"
                )
            )
            .is_err()
        );
    }
}
