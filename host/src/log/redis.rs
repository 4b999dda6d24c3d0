//! Redis Streams backend (filled in separately).
