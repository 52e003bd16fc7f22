//! Worker jobs of the evaluate area: each request of
//! [`crate::protocol::evaluate`] runs here, off the UI thread.

use crate::protocol::evaluate::EvaluateRequest;
use crate::protocol::Response;
use crate::worker::Cancelled;

/// Run one request of this area for job `id`. Long loops call
/// `crate::worker::checkpoint(id).await?` between chunks so the job can be
/// cancelled and the worker stays responsive to messages.
pub async fn run(_id: u32, request: EvaluateRequest) -> Result<Response, Cancelled> {
    match request {}
}
