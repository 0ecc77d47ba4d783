//! Live updates: handlers publish "this instance changed" after they commit;
//! the instance view's Server-Sent Events stream tells the browser, which
//! refreshes the changed regions. Another node's changes reach the stream by a
//! slow revision check, so several nodes behind one database stay correct.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::WebResult;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;
use ticketflower_store::{CompanyId, InstanceId};
use tokio::sync::broadcast;

/// The in-process fan-out of instance changes.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<(CompanyId, InstanceId)>,
}

impl Default for Hub {
    fn default() -> Self {
        Self { sender: broadcast::channel(1024).0 }
    }
}

impl Hub {
    /// Tells the listeners of an instance that it changed (after the commit).
    pub fn publish(&self, company: CompanyId, instance: InstanceId) {
        // No listener is fine.
        let _ = self.sender.send((company, instance));
    }
}

/// How often a stream re-reads the revision even without a local publish.
const RECHECK: Duration = Duration::from_secs(5);

/// `GET /instances/{id}/events`: a `state` event with `{revision, status}` at
/// start and whenever the instance changes.
pub async fn instance_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> WebResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let company = user.company();
    let instance = InstanceId(id);
    crate::ui::instances::check_access(&state, &user, instance).await?;
    let mut receiver = state.sender_subscribe();
    let store = state.store.clone();
    let stream = async_stream(move |yielder| async move {
        let mut last = None;
        loop {
            if let Ok(view) = store.instance(company, instance).await
                && last != Some(view.revision)
            {
                last = Some(view.revision);
                let data = serde_json::json!({"revision": view.revision, "status": view.status}).to_string();
                if !yielder.send(Event::default().event("state").data(data)).await {
                    return;
                }
            }
            // Wait for a local change to this instance, or the recheck interval.
            let _ = tokio::time::timeout(RECHECK, async {
                loop {
                    match receiver.recv().await {
                        Ok((c, i)) if c == company && i == instance => return,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => return,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            })
            .await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

impl AppState {
    fn sender_subscribe(&self) -> broadcast::Receiver<(CompanyId, InstanceId)> {
        self.live.sender.subscribe()
    }
}

/// A tiny generator: the producer sends events through a channel; the stream
/// ends when the producer returns or the client goes away.
struct Yielder(tokio::sync::mpsc::Sender<Event>);

impl Yielder {
    async fn send(&self, event: Event) -> bool {
        self.0.send(event).await.is_ok()
    }
}

fn async_stream<F, Fut>(producer: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(Yielder) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    tokio::spawn(producer(Yielder(sender)));
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
}
