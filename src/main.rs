//! The `trtc-preflight` command.

fn main() {
    let cli = trtc_preflight::cli::parse();
    std::process::exit(trtc_preflight::app::run(cli));
}
