//! Work that must not hold an async worker: compiling a pack (hundreds of
//! milliseconds for a new one) and building a composition (each pack checks
//! its settings in wasm) run on tokio's blocking threads. One helper for the
//! library's `*_async` functions, so every caller gets the same handling of
//! a task that never finished.

/// Runs `work` on tokio's blocking threads and returns its result, or why it
/// did not finish (it panicked, or the runtime is shutting down).
pub(crate) async fn off_runtime<T, F>(work: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::off_runtime;

    #[tokio::test]
    async fn a_result_comes_back_and_a_panic_is_an_error() {
        assert_eq!(off_runtime(|| 6 * 7).await, Ok(42));
        let e = off_runtime(|| -> u8 { panic!("boom") }).await;
        assert!(e.is_err_and(|m| m.contains("panicked")));
    }
}
