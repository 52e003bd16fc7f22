//! Trunk's entry: mount the playground on `<body>`.

fn main() {
    llmlab_web::start();
}
