//! A few threads the process keeps for work that a write of a large document can do beside
//! its own thread: compressing the blob, freeing the value it was given.
//!
//! Started by the first job (4 threads named `gitstate-pool`), idle between writes, never
//! stopped; a process that writes only small documents never starts them. Where no thread
//! can be started (or every one has stopped), [`run`] runs the job itself, so nothing
//! depends on the pool existing.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

/// Threads in the pool; more jobs queue up.
const THREADS: usize = 4;

/// A unit of work for the pool.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

static POOL: OnceLock<Option<Sender<Job>>> = OnceLock::new();

/// Run `job` on a pool thread, or here when there is no pool.
pub(crate) fn run(job: Job) {
    let job = match POOL.get_or_init(start) {
        Some(sender) => match sender.send(job) {
            Ok(()) => return,
            Err(unsent) => unsent.0,
        },
        None => job,
    };
    job();
}

/// Drop `value` on a pool thread: freeing a large tree of values takes milliseconds that
/// the caller need not wait for.
pub(crate) fn drop_later<T: Send + 'static>(value: T) {
    run(Box::new(move || drop(value)));
}

fn start() -> Option<Sender<Job>> {
    let (sender, receiver) = channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let started = (0..THREADS)
        .filter(|_| {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name("gitstate-pool".into())
                .spawn(move || work(&receiver))
                .is_ok()
        })
        .count();
    (started > 0).then_some(sender)
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else {
            return;
        };
        job();
    }
}
