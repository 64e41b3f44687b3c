use clap::Parser;

fn main() {
    let cli = smokegate::cli::args::Cli::parse();
    std::process::exit(smokegate::cli::app::main(cli));
}
