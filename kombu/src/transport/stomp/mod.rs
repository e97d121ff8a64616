//! STOMP 1.2, for RabbitMQ's STOMP plugin (`stomp://`).
//!
//! Our own codec (the maintained STOMP crates are copyleft or abandoned): [`frame`] turns
//! bytes into frames and back, with STOMP's header escaping, `content-length` bodies that may
//! hold NUL bytes, heart-beat EOLs, and limits on frame and header size. The transport that
//! maps exchanges, queues and consumers onto STOMP destinations builds on it.

#[cfg(feature = "stomp")]
pub mod client;
pub mod frame;
