//! Positions in a tenant's log.
//!
//! An [`Offset`] is `(ms, seq)`: the millisecond the event was appended and a
//! sequence number within that millisecond, ordered lexicographically. Both
//! backends assign offsets this way (Redis Streams does it natively; the
//! embedded log imitates it), so event ids look the same whichever backend
//! stored them, and retention by age can read the age straight off the id.
//!
//! A [`Position`] adds the stream's [`Epoch`]: a random tag chosen when the
//! stream is created. If a stream is lost and recreated (a Redis flush, a
//! wiped data directory) its epoch changes, so a client's old position is
//! recognised as belonging to another history instead of being resumed into.
//!
//! The text form, used as the SSE `id:` and the event's `id`, is
//! `<epoch>_<ms>-<seq>`, e.g. `k3v9x2ab_1732370000000-0`.

use std::fmt;
use std::str::FromStr;

/// A point in one stream, ordered. `Offset::ZERO` is "before the first event".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset {
    pub ms: u64,
    pub seq: u64,
}

impl Offset {
    pub const ZERO: Offset = Offset { ms: 0, seq: 0 };
    pub const MAX: Offset = Offset {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        Offset { ms, seq }
    }

    /// The next offset to assign after `self` at wall-clock time `now_ms`.
    /// Monotonic even if the clock steps back.
    pub fn next_after(self, now_ms: u64) -> Offset {
        if now_ms > self.ms {
            Offset::new(now_ms, 0)
        } else {
            Offset::new(self.ms, self.seq + 1)
        }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for Offset {
    type Err = PositionError;

    /// Parses `ms-seq` (the Redis Streams id form).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').ok_or(PositionError)?;
        Ok(Offset::new(
            ms.parse().map_err(|_| PositionError)?,
            seq.parse().map_err(|_| PositionError)?,
        ))
    }
}

/// Longest epoch tag accepted when parsing a client-supplied id.
pub const MAX_EPOCH_LEN: usize = 32;

/// The identity of one incarnation of a stream: short lowercase alphanumerics.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Epoch(String);

impl Epoch {
    /// An epoch made from random bits (the caller's entropy): 10 base-36
    /// characters, about 51 bits.
    pub fn from_random(mut bits: u64) -> Self {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let tag = (0..10)
            .map(|_| {
                let c = ALPHABET[(bits % 36) as usize] as char;
                bits /= 36;
                c
            })
            .collect();
        Epoch(tag)
    }

    /// Accepts a stored or client-supplied tag if it has the expected form.
    pub fn parse(s: &str) -> Result<Self, PositionError> {
        let valid = !s.is_empty()
            && s.len() <= MAX_EPOCH_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(Epoch(s.to_owned()))
        } else {
            Err(PositionError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event id: epoch plus offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    pub epoch: Epoch,
    pub offset: Offset,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.epoch, self.offset)
    }
}

impl FromStr for Position {
    type Err = PositionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, offset) = s.split_once('_').ok_or(PositionError)?;
        Ok(Position {
            epoch: Epoch::parse(epoch)?,
            offset: offset.parse()?,
        })
    }
}

/// A string that is not a Beacon event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a Beacon event id (expected <epoch>_<ms>-<seq>)")]
pub struct PositionError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_round_trips_through_text() {
        let p = Position {
            epoch: Epoch::parse("k3v9x2ab").unwrap(),
            offset: Offset::new(1_732_370_000_000, 7),
        };
        assert_eq!(p.to_string(), "k3v9x2ab_1732370000000-7");
        assert_eq!(p.to_string().parse::<Position>().unwrap(), p);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "abc",
            "abc_1",
            "abc_1-",
            "ABC_1-2",
            "a\nb_1-2",
            "abc_-1-2",
            "abc_1-2-3",
            "_1-2",
            &format!("{}_1-2", "a".repeat(33)),
            "abc_99999999999999999999999-0",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn offsets_order_by_time_then_sequence_and_never_go_back() {
        let a = Offset::new(10, 5);
        assert!(a < Offset::new(11, 0));
        assert_eq!(a.next_after(10), Offset::new(10, 6));
        assert_eq!(a.next_after(3), Offset::new(10, 6), "clock stepped back");
        assert_eq!(a.next_after(12), Offset::new(12, 0));
    }

    #[test]
    fn epochs_from_random_bits_are_valid_and_distinct() {
        let a = Epoch::from_random(0x1234_5678_9abc_def0);
        assert_eq!(Epoch::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.as_str().len(), 10);
        assert_ne!(a, Epoch::from_random(0x1234_5678_9abc_def1));
    }
}
