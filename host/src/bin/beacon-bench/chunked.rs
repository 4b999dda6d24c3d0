//! Incremental decoder of HTTP/1.1 `Transfer-Encoding: chunked` bodies.

use anyhow::{Result, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hexadecimal chunk size.
    Size { value: u64, digits: u8 },
    /// Skipping a chunk extension up to the end of the size line.
    Extension { value: u64 },
    /// Copying chunk payload; this many bytes are left.
    Data(u64),
    /// Expecting the CRLF after a chunk's payload.
    DataEnd { seen_cr: bool },
    /// Reading trailer lines after the last chunk; `line` is the current line's length.
    Trailer { line: usize },
    /// The terminating empty line was read.
    Done,
}

#[derive(Debug)]
pub struct ChunkDecoder {
    state: State,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
            },
        }
    }
}

impl ChunkDecoder {
    /// True once the last (zero-sized) chunk and its trailer were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, appending the payload bytes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { value, digits } => {
                    i += 1;
                    match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            if digits >= 15 {
                                bail!("chunk size too long");
                            }
                            let d = (b as char).to_digit(16).unwrap_or(0);
                            self.state = State::Size {
                                value: value * 16 + u64::from(d),
                                digits: digits + 1,
                            };
                        }
                        b';' | b' ' | b'\t' if digits > 0 => {
                            self.state = State::Extension { value };
                        }
                        b'\r' if digits > 0 => self.state = State::Extension { value },
                        b'\n' if digits > 0 => self.end_size_line(value),
                        _ => bail!("bad chunk size byte 0x{b:02x}"),
                    }
                }
                State::Extension { value } => {
                    i += 1;
                    if b == b'\n' {
                        self.end_size_line(value);
                    }
                }
                State::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - i);
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd { seen_cr: false }
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd { seen_cr } => {
                    i += 1;
                    match (b, seen_cr) {
                        (b'\r', false) => self.state = State::DataEnd { seen_cr: true },
                        (b'\n', _) => {
                            self.state = State::Size {
                                value: 0,
                                digits: 0,
                            }
                        }
                        _ => bail!("missing CRLF after chunk payload"),
                    }
                }
                State::Trailer { line } => {
                    i += 1;
                    self.state = match b {
                        b'\n' if line == 0 => State::Done,
                        b'\n' => State::Trailer { line: 0 },
                        b'\r' => State::Trailer { line },
                        _ => State::Trailer { line: line + 1 },
                    };
                }
                State::Done => return Ok(()),
            }
        }
        Ok(())
    }

    fn end_size_line(&mut self, value: u64) {
        self.state = if value == 0 {
            State::Trailer { line: 0 }
        } else {
            State::Data(value)
        };
    }
}
