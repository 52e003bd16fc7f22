//! `llmlab chat-template --model DIR --messages FILE.json [--add-generation-prompt]`:
//! renders a conversation with the checkpoint's chat template, exactly as
//! transformers' `apply_chat_template`, and prints
//! `{"text", "input_ids", "assistant_masks"}`. The template is
//! `DIR/chat_template.jinja`, else `chat_template` in
//! `DIR/tokenizer_config.json`; the special tokens come from
//! tokenizer_config.json, the ids from `DIR/tokenizer.json` (no special tokens
//! added, as apply_chat_template does). `assistant_masks` marks the tokens
//! inside `{% generation %}` blocks (all zeros if the template has none).

use std::fs;
use std::path::Path;

use llmlab_core::instruction::chat_template::{assistant_mask, ChatInputs, ChatTemplate};
use llmlab_core::tokenizers::Tokenizer;

/// Arguments of `llmlab chat-template`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (tokenizer.json, tokenizer_config.json or chat_template.jinja).
    #[arg(long)]
    model: String,
    /// JSON file: a list of messages `{"role", "content"}`.
    #[arg(long)]
    messages: String,
    /// Append the header that starts the assistant's reply.
    #[arg(long)]
    add_generation_prompt: bool,
}

const MAX_MESSAGES_BYTES: u64 = 64 << 20;

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    let dir = Path::new(&args.model);
    let config_text = fs::read_to_string(dir.join("tokenizer_config.json")).unwrap_or_else(|_| "{}".into());
    let jinja = dir.join("chat_template.jinja");
    let source = if jinja.exists() {
        fs::read_to_string(&jinja).map_err(|e| format!("cannot read {}: {e}", jinja.display()))?
    } else {
        ChatTemplate::source_from_tokenizer_config(&config_text).map_err(|e| format!("{}: {e}", dir.display()))?
    };
    let size = fs::metadata(&args.messages).map_err(|e| format!("cannot read {}: {e}", args.messages))?.len();
    if size > MAX_MESSAGES_BYTES {
        return Err(format!("{} has {size} bytes; at most {MAX_MESSAGES_BYTES} are accepted", args.messages));
    }
    let messages_text = fs::read_to_string(&args.messages).map_err(|e| format!("cannot read {}: {e}", args.messages))?;
    let messages = serde_json::from_str(&messages_text).map_err(|e| format!("{}: {e}", args.messages))?;
    let template = ChatTemplate::new(&source).map_err(|e| e.to_string())?;
    let inputs = ChatInputs {
        messages,
        tools: None,
        add_generation_prompt: args.add_generation_prompt,
        variables: ChatTemplate::special_tokens_from_tokenizer_config(&config_text),
    };
    let rendered = template.render(&inputs).map_err(|e| e.to_string())?;
    let tokenizer_path = dir.join("tokenizer.json");
    let tokenizer_json = fs::read_to_string(&tokenizer_path).map_err(|e| format!("cannot read {}: {e}", tokenizer_path.display()))?;
    let tokenizer = Tokenizer::from_json(&tokenizer_json).map_err(|e| e.to_string())?;
    let encoding = tokenizer.encode(&rendered.text, false).map_err(|e| e.to_string())?;
    let mask = assistant_mask(&rendered.generation_spans, &encoding.offsets);
    println!("{}", serde_json::json!({ "text": rendered.text, "input_ids": encoding.ids, "assistant_masks": mask }));
    Ok(())
}
