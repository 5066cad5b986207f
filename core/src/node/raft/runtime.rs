//! The async runtime openraft runs on: tokio in production, madsim in simulation.
//!
//! openraft's stock `TokioRuntime` panics under madsim ("there is no reactor running"), so
//! under `cfg(madsim)` this adapter maps spawn/sleep/timeout onto madsim and draws openraft's
//! randomness (election timeouts) from madsim's seeded RNG (CONTRIBUTING.md, measured facts). Instants stay
//! `tokio::time::Instant`: madsim intercepts the clock, so they read virtual time.

#[cfg(not(madsim))]
pub type Runtime = openraft::TokioRuntime;

#[cfg(madsim)]
pub use sim::MadsimRuntime as Runtime;

#[cfg(madsim)]
mod sim {
    use openraft::async_runtime::TokioOneShotSender;
    use openraft::{AsyncRuntime, OptionalSend, TokioInstant};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    #[derive(Debug, Default, PartialEq, Eq)]
    pub struct MadsimRuntime;

    /// A nameable timeout future (madsim's `timeout` returns an opaque type). Polls the inner
    /// future first, so a ready result wins over an expired deadline (deterministic, biased).
    pub struct Timeout<F> {
        future: Pin<Box<F>>,
        sleep: Pin<Box<madsim::time::Sleep>>,
    }

    impl<R, F: Future<Output = R>> Future for Timeout<F> {
        type Output = Result<R, madsim::time::error::Elapsed>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if let Poll::Ready(r) = self.future.as_mut().poll(cx) {
                return Poll::Ready(Ok(r));
            }
            match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(madsim::time::error::Elapsed)),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    fn to_std(i: TokioInstant) -> std::time::Instant {
        i.into_std()
    }

    impl AsyncRuntime for MadsimRuntime {
        type JoinError = madsim::task::JoinError;
        type JoinHandle<T: OptionalSend + 'static> = madsim::task::JoinHandle<T>;
        type Sleep = madsim::time::Sleep;
        type Instant = TokioInstant;
        type TimeoutError = madsim::time::error::Elapsed;
        type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
        type ThreadLocalRng = madsim::rand::GlobalRng;
        type OneshotSender<T: OptionalSend> = TokioOneShotSender<T>;
        type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;
        type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;

        fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
        where
            T: Future + OptionalSend + 'static,
            T::Output: OptionalSend + 'static,
        {
            madsim::task::spawn(future)
        }

        fn sleep(duration: Duration) -> Self::Sleep {
            madsim::time::sleep(duration)
        }

        fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
            madsim::time::sleep_until(to_std(deadline))
        }

        fn timeout<R, F: Future<Output = R> + OptionalSend>(duration: Duration, future: F) -> Self::Timeout<R, F> {
            Timeout { future: Box::pin(future), sleep: Box::pin(madsim::time::sleep(duration)) }
        }

        fn timeout_at<R, F: Future<Output = R> + OptionalSend>(deadline: Self::Instant, future: F) -> Self::Timeout<R, F> {
            Timeout { future: Box::pin(future), sleep: Box::pin(madsim::time::sleep_until(to_std(deadline))) }
        }

        fn is_panic(join_error: &Self::JoinError) -> bool {
            join_error.is_panic()
        }

        fn thread_rng() -> Self::ThreadLocalRng {
            madsim::rand::thread_rng()
        }

        fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
        where
            T: OptionalSend,
        {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (TokioOneShotSender(tx), rx)
        }
    }
}
