//! `campaign::v1` for campaign images: the workload client asks where a server's code and memory
//! are, lists its functions (from its ELF symbol table, for the golden run), and arms, reads and
//! disarms the kernel's injection traps (`abi::inject`) on the server's current thread. Served by
//! the supervisor only when the image's name starts with `campaign`, so that no other image can
//! inject faults.

use crate::elf::{self, Elf, PF_W, PF_X};
use crate::supervisor::Supervised;
use axolotl_abi::archive::{Archive, EntryKind};
use axolotl_abi::inject::InjectKind;
use axolotl_abi::{Error, PAGE_SIZE};
use axolotl_image::{ImageDescription, MAX_SERVERS};
use axolotl_rt::server_info::SERVER_STACK_TOP;
use ipc_schema::campaign::v1::{
    self, CampaignError, FUNCTION_PAGE, Function, FunctionPage, Target, Trap,
};
use ipc_schema::interfaces::common::Name;
use ipc_schema::{Caller, MSG_WORDS};

/// What the campaign needs of one server of the image.
#[derive(Clone, Copy)]
pub struct ServerCode {
    pub program: &'static [u8],
    pub target: Target,
}

/// The code of every server (`None` where the program is missing or unreadable).
pub fn server_code(
    image: &ImageDescription,
    archive: &Archive<'static>,
    machine: u16,
) -> heapless::Vec<Option<ServerCode>, MAX_SERVERS> {
    image
        .servers
        .iter()
        .map(|desc| {
            let program = archive.find(EntryKind::Program, Some(desc.program.as_str()))?;
            let elf = Elf::parse(program.data, machine).ok()?;
            let span = |flag: u32| {
                elf.segments()
                    .filter(|s| s.flags & flag != 0)
                    .fold((u64::MAX, 0), |(lo, hi), s| {
                        (lo.min(s.vaddr), hi.max(s.vaddr + s.mem_size))
                    })
            };
            let stack = u64::from(desc.stack_pages) * PAGE_SIZE as u64;
            Some(ServerCode {
                program: program.data,
                target: Target {
                    text: span(PF_X),
                    data: span(PF_W),
                    stack: (SERVER_STACK_TOP - stack, SERVER_STACK_TOP),
                    registers: axolotl_abi::inject::register_count(if machine == elf::EM_AARCH64 {
                        axolotl_abi::Arch::Aarch64
                    } else {
                        axolotl_abi::Arch::X86_64
                    }) as u8,
                    fixed_length: machine == elf::EM_AARCH64,
                },
            })
        })
        .collect()
}

/// The length of the instruction at `pc` of the program, 0 if not known.
fn first_length(code: &ServerCode, pc: u64) -> u8 {
    if code.target.fixed_length {
        return 4;
    }
    let Ok(elf) = Elf::parse(code.program, elf::EM_X86_64) else {
        return 0;
    };
    elf.segments()
        .find(|s| s.flags & PF_X != 0 && (s.vaddr..s.vaddr + s.file_size as u64).contains(&pc))
        .and_then(|s| code.program.get(s.offset + (pc - s.vaddr) as usize..))
        .and_then(axolotl_campaign::x86_length)
        .unwrap_or(0)
}

/// `campaign::v1` over the supervised servers.
pub struct Campaign<'a> {
    pub servers: &'a [Supervised],
    pub code: &'a [Option<ServerCode>],
}

fn kernel(e: Error) -> CampaignError {
    CampaignError::Kernel(e as u16)
}

impl Campaign<'_> {
    fn find(&self, name: &str) -> Result<(usize, &Supervised), CampaignError> {
        self.servers
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
            .ok_or(CampaignError::NoSuchServer)
    }

    fn code(&self, name: &str) -> Result<&ServerCode, CampaignError> {
        let (i, _) = self.find(name)?;
        self.code
            .get(i)
            .and_then(Option::as_ref)
            .ok_or(CampaignError::NoProgram)
    }

    /// The thread traps are armed on: any server's current thread would do for status and
    /// disarm (the slots are the kernel's), the first built one is used.
    fn any_tcb(&self) -> Result<axolotl_rt::Cap<axolotl_rt::Tcb>, CampaignError> {
        self.servers
            .iter()
            .find_map(|s| s.tcb)
            .ok_or(CampaignError::NoSuchServer)
    }
}

fn trap(t: (axolotl_abi::inject::TrapState, u64, u64, u64)) -> Trap {
    Trap {
        state: t.0 as u8,
        pc: t.1,
        detail: (t.2, t.3),
    }
}

impl v1::Server for Campaign<'_> {
    fn target(&mut self, _: &mut Caller, server: Name) -> Result<Target, CampaignError> {
        Ok(self.code(&server)?.target)
    }

    fn functions(
        &mut self,
        _: &mut Caller,
        server: Name,
        cursor: u32,
    ) -> Result<FunctionPage, CampaignError> {
        let code = self.code(&server)?;
        let mut page = FunctionPage::default();
        let mut all = elf::functions(code.program).skip(cursor as usize);
        for (start, size) in all.by_ref().take(FUNCTION_PAGE) {
            // At most FUNCTION_PAGE, the page's capacity.
            let _ = page.functions.push(Function {
                start,
                size: u32::try_from(size).unwrap_or(u32::MAX),
                first_len: first_length(code, start),
            });
        }
        if all.next().is_some() {
            page.next = Some(cursor + FUNCTION_PAGE as u32);
        }
        Ok(page)
    }

    fn arm(
        &mut self,
        _: &mut Caller,
        server: Name,
        slot: u8,
        pc: u64,
        kind: u8,
        a: u64,
        b: u64,
    ) -> Result<(), CampaignError> {
        let (_, s) = self.find(&server)?;
        let tcb = s.tcb.ok_or(CampaignError::NoSuchServer)?;
        let kind = InjectKind::from_u64(u64::from(kind))
            .ok_or(CampaignError::Kernel(Error::InvalidArgument as u16))?;
        tcb.inject_arm(u64::from(slot), pc, kind, a, b)
            .map_err(kernel)
    }

    fn status(&mut self, _: &mut Caller, slot: u8) -> Result<Trap, CampaignError> {
        self.any_tcb()?
            .inject_status(u64::from(slot))
            .map(trap)
            .map_err(kernel)
    }

    fn disarm(&mut self, _: &mut Caller, slot: u8) -> Result<Trap, CampaignError> {
        let tcb = self.any_tcb()?;
        let before = tcb.inject_status(u64::from(slot)).map_err(kernel)?;
        tcb.inject_disarm(u64::from(slot)).map_err(kernel)?;
        Ok(trap(before))
    }
}

/// Dispatches a `campaign::v1` request; `None` if `label` is not one.
pub fn dispatch(
    campaign: &mut Campaign,
    caller: &mut Caller,
    label: u64,
    request: &[u64],
    reply: &mut [u64; MSG_WORDS],
) -> Option<(u64, usize)> {
    let interface = ipc_schema::wire::Label::from_u64(label)?.interface;
    (interface == v1::INTERFACE).then(|| v1::dispatch(campaign, caller, label, request, reply))
}
