//! Tests of the bench against servers it does not control: a scripted
//! event-stream server (both of the shapes it meets: Beacon's chunked
//! stream with control events, Nchan's close-delimited EventSource), and
//! Nchan itself when it is installed.

mod nchan;
mod subscribers;
mod support;
