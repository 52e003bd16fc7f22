//! The worker's jobs, one file per area. Each exposes
//! `async fn run(id, request) -> Result<Response, Cancelled>`.

pub mod data;
pub mod evaluate;
pub mod finetune;
pub mod generate;
pub mod model;
pub mod tokenize;
pub mod train;
