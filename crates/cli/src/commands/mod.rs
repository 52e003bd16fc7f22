//! One module per subcommand. Each exposes `Args` (clap) and
//! `run(Args) -> Result<(), String>`; the error string is printed as
//! `error: ...` with a non-zero exit code.

pub mod adapter;
pub mod chat_template;
pub mod data;
pub mod generate;
pub mod grad;
pub mod lora;
pub mod objectives;
pub mod score;
pub mod share_link;
pub mod bench_decode;
pub mod bench_load;
pub mod info;
pub mod logits;
pub mod tokenize;
pub mod decode;
pub mod train_tokenizer;
pub mod bench_tokenize;
pub mod train;
pub mod quantize;
pub mod dequantize;
pub mod prune;
