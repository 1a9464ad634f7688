//! Lengths of x86_64 instructions, for the common function-prologue instructions only: enough to
//! skip the first instruction of a function without a disassembler. Anything not recognised is
//! `None` (the campaign then does not draw a skip there).

/// The length of the instruction at the start of `code`, if it is one of the recognised forms:
/// `push`/`pop` of a register, `mov`/`lea`/arithmetic between registers and memory (ModRM forms),
/// `sub`/`add`/`and`/`cmp` with an 8- or 32-bit immediate, `mov r, imm32`, `ret`, `nop`.
pub fn x86_length(code: &[u8]) -> Option<u8> {
    let mut i = 0;
    // Operand-size prefix and one REX prefix.
    if code.get(i) == Some(&0x66) {
        i += 1;
    }
    if code.get(i).is_some_and(|b| b & 0xf0 == 0x40) {
        i += 1;
    }
    let op = *code.get(i)?;
    i += 1;
    let with_modrm = |i: usize, imm: usize| -> Option<u8> {
        let modrm = *code.get(i)?;
        let (md, rm) = (modrm >> 6, modrm & 7);
        let mut n = i + 1;
        if md != 3 && rm == 4 {
            let sib = *code.get(n)?;
            n += 1;
            if md == 0 && sib & 7 == 5 {
                n += 4;
            }
        }
        n += match (md, rm) {
            (0, 5) => 4,
            (1, _) => 1,
            (2, _) => 4,
            _ => 0,
        };
        u8::try_from(n + imm).ok()
    };
    match op {
        0x50..=0x5f | 0xc3 | 0x90 => u8::try_from(i).ok(),
        0x01 | 0x03 | 0x09 | 0x0b | 0x21 | 0x23 | 0x29 | 0x2b | 0x31 | 0x33 | 0x39 | 0x3b
        | 0x85 | 0x88 | 0x89 | 0x8a | 0x8b | 0x8d => with_modrm(i, 0),
        0x83 | 0xc1 | 0x6b => with_modrm(i, 1),
        0x81 | 0x69 | 0xc7 => with_modrm(i, 4),
        0xb8..=0xbf if code[..i - 1].last().is_some_and(|b| b & 0xf8 == 0x48) => {
            u8::try_from(i + 8).ok()
        }
        0xb8..=0xbf => u8::try_from(i + 4).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prologue_instructions() {
        assert_eq!(x86_length(&[0x55]), Some(1)); // push rbp
        assert_eq!(x86_length(&[0x41, 0x57]), Some(2)); // push r15
        assert_eq!(x86_length(&[0x48, 0x89, 0xe5]), Some(3)); // mov rbp, rsp
        assert_eq!(x86_length(&[0x48, 0x83, 0xec, 0x28]), Some(4)); // sub rsp, 0x28
        assert_eq!(x86_length(&[0x48, 0x81, 0xec, 0, 1, 0, 0]), Some(7)); // sub rsp, 0x100
        assert_eq!(x86_length(&[0x48, 0x8b, 0x47, 0x08]), Some(4)); // mov rax, [rdi+8]
        assert_eq!(x86_length(&[0x48, 0x8b, 0x04, 0x24]), Some(4)); // mov rax, [rsp]
        assert_eq!(x86_length(&[0x48, 0x8d, 0x05, 1, 2, 3, 4]), Some(7)); // lea rax, [rip+x]
        assert_eq!(x86_length(&[0x89, 0x84, 0x24, 0, 1, 0, 0]), Some(7)); // mov [rsp+0x100], eax
        assert_eq!(x86_length(&[0xb8, 1, 0, 0, 0]), Some(5)); // mov eax, 1
        assert_eq!(x86_length(&[0x48, 0xb8, 1, 0, 0, 0, 0, 0, 0, 0]), Some(10)); // movabs
        assert_eq!(x86_length(&[0xc3]), Some(1));
        assert_eq!(x86_length(&[0x0f, 0x0b]), None);
        assert_eq!(x86_length(&[0x48]), None);
        assert_eq!(x86_length(&[]), None);
    }
}
