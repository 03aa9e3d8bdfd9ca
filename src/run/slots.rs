//! Run slots: how many programs run at once (`run.slots`) and how many
//! may wait (`run.queue_capacity`), apart from the conversions' slots, so
//! a short run never queues behind a long conversion. Each slot has its
//! own number, and with it its own uid (`run.uid_base + slot`): runs
//! never share RLIMIT_NPROC with each other or with a conversion.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The pool; cheap to share behind an `Arc`.
pub struct Slots {
    slots: u32,
    queue_capacity: u32,
    /// Runs admitted (running or waiting): slots + queue capacity.
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    free: Mutex<Vec<u32>>,
}

/// Why a run was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {slots} run slots are busy and {queue_capacity} runs are waiting; try again shortly")]
pub struct Full {
    pub slots: u32,
    pub queue_capacity: u32,
}

/// A slot held by one run; dropping it frees the slot.
pub struct Slot {
    pool: Arc<Slots>,
    number: u32,
    _running: OwnedSemaphorePermit,
    _admitted: OwnedSemaphorePermit,
}

impl Slot {
    /// The slot's number: the run's uid is `run.uid_base + number`.
    pub fn number(&self) -> u32 {
        self.number
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.number);
    }
}

impl Slots {
    pub fn new(slots: u32, queue_capacity: u32) -> Arc<Slots> {
        let slots = slots.max(1);
        Arc::new(Slots {
            slots,
            queue_capacity,
            admitted: Arc::new(Semaphore::new((slots + queue_capacity) as usize)),
            running: Arc::new(Semaphore::new(slots as usize)),
            free: Mutex::new((0..slots).rev().collect()),
        })
    }

    /// Admits a run at once or refuses it ([`Full`]), then waits for a
    /// free slot.
    pub async fn acquire(self: &Arc<Self>) -> Result<Slot, Full> {
        let admitted = match Arc::clone(&self.admitted).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                return Err(Full {
                    slots: self.slots,
                    queue_capacity: self.queue_capacity,
                })
            }
        };
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let number = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .expect("a running permit comes with a free slot");
        Ok(Slot {
            pool: Arc::clone(self),
            number,
            _running: running,
            _admitted: admitted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_distinct_and_the_queue_is_bounded() {
        let pool = Slots::new(2, 1);
        let a = pool.acquire().await.unwrap();
        let b = pool.acquire().await.unwrap();
        assert_ne!(a.number(), b.number());
        // The third waits in the queue; the fourth is refused.
        let waiting = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.acquire().await.map(|s| s.number()) }
        });
        tokio::task::yield_now().await;
        while pool.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let err = pool.acquire().await.err().unwrap();
        assert_eq!(
            err,
            Full {
                slots: 2,
                queue_capacity: 1
            }
        );
        let freed = a.number();
        drop(a);
        assert_eq!(waiting.await.unwrap().unwrap(), freed);
        drop(b);
        assert!(pool.acquire().await.is_ok());
    }
}
