//! Line editing: console input bytes in, echo bytes out, a finished line when Enter comes.
//!
//! What each input byte does:
//!
//! | input | effect | echo |
//! |---|---|---|
//! | printable ASCII, UTF-8 bytes | appended | the byte |
//! | CR, LF, CR LF | the line is finished (the LF of a CR LF pair is dropped) | `\n` |
//! | backspace (BS 0x08, DEL 0x7f) | the last character is removed | `\b \b` |
//! | Ctrl-U | the whole line is removed | `\b \b` per character |
//! | Ctrl-C | the line is abandoned | `^C\n` |
//! | ESC sequences (arrow keys...) | ignored, to their final byte | nothing |
//! | anything else, or a byte past [`LINE_LEN`] | ignored | BEL |
//!
//! The buffer holds whole UTF-8 sequences as typed; a finished line that is not valid UTF-8 is
//! reported as [`Edit::Invalid`]. Terminals in raw mode send CR for Enter; pipes and the scenario
//! tests send LF; both work. Output uses plain `\n`: QEMU's stdio console turns it into CR LF on a
//! terminal.

use crate::output::Terminal;
use heapless::Vec;

/// The longest line, in bytes: room for `kv put`, the longest key and the longest value.
pub const LINE_LEN: usize = 320;

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const ERASE: &[u8] = b"\x08 \x08";

/// What one input byte did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// The line is being edited; nothing to do yet.
    Pending,
    /// Enter: [`LineEditor::line`] holds the finished line; call [`LineEditor::clear`] after it.
    Done,
    /// Enter on a line that is not valid UTF-8 (the buffer is cleared).
    Invalid,
    /// Ctrl-C: the line was dropped.
    Cancelled,
}

/// Where the editor is in an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [` or `ESC O`: parameters until a final byte in `0x40..=0x7e`.
    Sequence,
}

/// The line being typed.
#[derive(Debug)]
pub struct LineEditor {
    buf: Vec<u8, LINE_LEN>,
    escape: Escape,
    /// The previous byte was a CR that finished a line (so a following LF is its pair).
    after_cr: bool,
    /// A finished line waits in `buf` for [`LineEditor::clear`].
    done: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        LineEditor::new()
    }
}

impl LineEditor {
    pub const fn new() -> LineEditor {
        LineEditor {
            buf: Vec::new(),
            escape: Escape::None,
            after_cr: false,
            done: false,
        }
    }

    /// Takes one input byte, echoing what the terminal should show.
    pub fn feed(&mut self, byte: u8, echo: &mut (impl Terminal + ?Sized)) -> Edit {
        if self.done {
            // The caller did not clear the finished line: start a new one anyway.
            self.clear();
        }
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' {
                    Escape::Sequence
                } else {
                    Escape::None
                };
                return Edit::Pending;
            }
            Escape::Sequence => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                }
                return Edit::Pending;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => Edit::Pending,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                echo.write_bytes(b"\n");
                if core::str::from_utf8(&self.buf).is_ok() {
                    self.done = true;
                    Edit::Done
                } else {
                    self.buf.clear();
                    Edit::Invalid
                }
            }
            BS | DEL => {
                if self.erase_char() {
                    echo.write_bytes(ERASE);
                }
                Edit::Pending
            }
            CTRL_U => {
                while self.erase_char() {
                    echo.write_bytes(ERASE);
                }
                Edit::Pending
            }
            CTRL_C => {
                self.buf.clear();
                echo.write_bytes(b"^C\n");
                Edit::Cancelled
            }
            ESC => {
                self.escape = Escape::Start;
                Edit::Pending
            }
            b' '..=b'~' | 0x80..=0xff => {
                if self.buf.push(byte).is_ok() {
                    echo.write_bytes(&[byte]);
                } else {
                    echo.write_bytes(&[BEL]);
                }
                Edit::Pending
            }
            _ => {
                echo.write_bytes(&[BEL]);
                Edit::Pending
            }
        }
    }

    /// Removes the last character (a whole UTF-8 sequence); whether there was one.
    fn erase_char(&mut self) -> bool {
        let Some(last) = self.buf.pop() else {
            return false;
        };
        if last & 0xc0 == 0x80 {
            // A continuation byte (0b10xx_xxxx): drop the rest of its sequence, back to and
            // including the byte that starts it, if there is one.
            while let Some(&b) = self.buf.last() {
                if b & 0xc0 == 0x80 {
                    self.buf.pop();
                    continue;
                }
                if b >= 0xc0 {
                    self.buf.pop();
                }
                break;
            }
        }
        true
    }

    /// The line typed so far, or the finished line after [`Edit::Done`].
    pub fn line(&self) -> &str {
        core::str::from_utf8(&self.buf).unwrap_or("")
    }

    /// Starts a new line.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.done = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Out = Vec<u8, 2048>;

    /// Feeds `input`; returns the finished lines (cleared after each), the echo and the last edit.
    fn run(editor: &mut LineEditor, input: &[u8]) -> (std::vec::Vec<String>, String, Edit) {
        let mut echo = Out::new();
        let mut lines = std::vec::Vec::new();
        let mut last = Edit::Pending;
        for &b in input {
            last = editor.feed(b, &mut echo);
            if last == Edit::Done {
                lines.push(editor.line().to_string());
                editor.clear();
            }
        }
        (lines, String::from_utf8_lossy(&echo).into_owned(), last)
    }

    #[test]
    fn lines_end_with_cr_lf_or_both() {
        let mut e = LineEditor::new();
        let (lines, echo, _) = run(&mut e, b"help\nps\rkv list\r\nx");
        assert_eq!(lines, ["help", "ps", "kv list"]);
        assert_eq!(echo, "help\nps\nkv list\nx");
        assert_eq!(e.line(), "x");
        // CR CR is two (empty) lines; LF LF too.
        let mut e = LineEditor::new();
        let (lines, _, _) = run(&mut e, b"\r\r\n\n");
        assert_eq!(lines, ["", "", ""]);
    }

    #[test]
    fn backspace_and_delete_erase_characters() {
        let mut e = LineEditor::new();
        let (lines, echo, _) = run(&mut e, b"pss\x7f\n");
        assert_eq!(lines, ["ps"]);
        assert_eq!(echo, "pss\x08 \x08\n");
        let (lines, echo, _) = run(&mut e, b"\x08\x08hx\x08elp\n");
        assert_eq!(lines, ["help"]);
        // Nothing to erase: no echo.
        assert_eq!(echo, "hx\x08 \x08elp\n");
    }

    #[test]
    fn backspace_erases_a_whole_utf8_character() {
        let mut e = LineEditor::new();
        let (lines, echo, _) = run(&mut e, "aé€\x7f\x7fb\n".as_bytes());
        assert_eq!(lines, ["ab"]);
        assert_eq!(echo, "aé€\x08 \x08\x08 \x08b\n");
    }

    #[test]
    fn ctrl_u_and_ctrl_c() {
        let mut e = LineEditor::new();
        let (lines, echo, _) = run(&mut e, b"abc\x15ps\n");
        assert_eq!(lines, ["ps"]);
        assert_eq!(echo, "abc\x08 \x08\x08 \x08\x08 \x08ps\n");
        let (lines, echo, last) = run(&mut e, b"kv put\x03");
        assert!(lines.is_empty());
        assert_eq!(echo, "kv put^C\n");
        assert_eq!(last, Edit::Cancelled);
        assert_eq!(e.line(), "");
    }

    #[test]
    fn escape_sequences_are_ignored() {
        let mut e = LineEditor::new();
        // Up arrow, Right arrow, F1 (ESC O P), Delete (ESC [ 3 ~), a lone ESC before a letter.
        let (lines, echo, _) = run(&mut e, b"p\x1b[A\x1b[Cs\x1bOP\x1b[3~\x1bx\n");
        assert_eq!(lines, ["ps"]);
        assert_eq!(echo, "ps\n");
    }

    #[test]
    fn other_control_bytes_ring_the_bell() {
        let mut e = LineEditor::new();
        let (lines, echo, _) = run(&mut e, b"p\ts\x00\n");
        assert_eq!(lines, ["ps"]);
        assert_eq!(echo, "p\x07s\x07\n");
    }

    #[test]
    fn the_line_is_bounded() {
        let mut e = LineEditor::new();
        let long = vec![b'a'; LINE_LEN + 2];
        let (_, echo, _) = run(&mut e, &long);
        assert_eq!(e.line().len(), LINE_LEN);
        assert!(echo.ends_with("a\x07\x07"), "{echo:?}");
        let (lines, _, _) = run(&mut e, b"\x7fb\n");
        assert_eq!(lines[0].len(), LINE_LEN);
        assert!(lines[0].ends_with("ab"));
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let mut e = LineEditor::new();
        let mut echo = Out::new();
        for &b in b"a\xff" {
            assert_eq!(e.feed(b, &mut echo), Edit::Pending);
        }
        assert_eq!(e.feed(b'\n', &mut echo), Edit::Invalid);
        assert_eq!(e.line(), "");
        // A lone continuation byte is erased by one backspace and the line is fine again.
        let (lines, _, _) = run(&mut e, b"b\x80\x7f\n");
        assert_eq!(lines, ["b"]);
    }

    #[test]
    fn an_uncleared_line_does_not_leak_into_the_next() {
        let mut e = LineEditor::new();
        let mut echo = Out::new();
        for &b in b"ps\n" {
            e.feed(b, &mut echo);
        }
        assert_eq!(e.line(), "ps");
        e.feed(b'x', &mut echo);
        assert_eq!(e.line(), "x");
    }
}
