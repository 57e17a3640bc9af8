//! CPU-heavy work (upload validation, scoring, bootstrap) runs on threads of lower
//! scheduling priority. On a small machine (2 cores) 50 uploads validated and scored at
//! once would otherwise take the cores from the web server's threads, and every leaderboard
//! reader would wait. At nice 19 a thread weighs 1/68 of a normal one, so even 50 of them
//! (one per upload being hashed) leave the HTTP threads most of the cores, and scoring gets
//! everything left over. (At +10, a tenth, the 50 hashing threads together still took more
//! CPU than the two HTTP threads, and readers waited up to a second during a burst.)
//! Scoring is no slower on an idle machine.

/// How much lower than the process the background threads run (nice units; the result is
/// capped at 19, the lowest priority).
pub const NICE_INCREMENT: i32 = 19;

/// Why background work gave no result.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    /// The work panicked (the panic message went to the log).
    #[error("the work panicked")]
    Panicked,
    /// No thread could be started.
    #[error("cannot start a thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Lowers the calling thread's priority by [`NICE_INCREMENT`] (Linux threads have their own
/// niceness; elsewhere this does nothing rather than slow the whole process).
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: getpriority/setpriority on the calling thread's own id touch no memory.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        // Failure (e.g. a sandbox forbidding it) leaves the priority as it was: harmless.
        libc::setpriority(libc::PRIO_PROCESS, tid, (current + NICE_INCREMENT).min(19));
    }
}

/// Makes rayon's global pool (the engine's parallel parse, ranking and bootstrap) run at the
/// lower priority. Does nothing when the pool already exists (e.g. a second server in the
/// same test process).
pub fn lower_rayon_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|n| format!("tailboard-rayon-{n}"))
        .start_handler(|_| lower_current_thread())
        .build_global();
}

/// Runs `work` on a new lower-priority thread and waits for it without blocking the async
/// runtime. A thread per call costs microseconds, nothing next to a validation or a scoring
/// run, and leaves tokio's blocking pool at normal priority for file and database work.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BackgroundError> {
    spawn(work).await
}

/// Starts `work` on a new lower-priority thread at once; the returned future gives its
/// result.
pub fn spawn<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, BackgroundError>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name("tailboard-cpu".into())
        .spawn(move || {
            lower_current_thread();
            let _ = tx.send(work());
        });
    async move {
        started?;
        // A panic drops the sender without sending.
        rx.await.map_err(|_| BackgroundError::Panicked)
    }
}
