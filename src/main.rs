use clap::Parser;

fn main() {
    let cli = smokegate::cli::Cli::parse();
    std::process::exit(smokegate::app::main(cli));
}
