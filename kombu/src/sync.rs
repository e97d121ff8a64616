//! Poison-tolerant locking: the one place the crate decides what a poisoned lock means.
//!
//! Every `std::sync` lock in kombu guards state that a panicking holder cannot leave
//! inconsistent in a way that matters more than losing the connection, broker or registry
//! behind it, so a poisoned lock is taken over and served rather than propagated. Async locks
//! (`tokio::sync::Mutex`) cannot be poisoned and are not wrapped here.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, taking the guard over if a holder panicked.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, taking the guard over if a writer panicked.
pub(crate) fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, taking the guard over if a holder panicked.
pub(crate) fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
