use clap::Parser;

// See Cargo.toml: the run's many small allocations.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = smokegate::cli::args::Cli::parse();
    // The one place the process ends: every command returns its exit here.
    std::process::exit(smokegate::cli::app::main(cli).code());
}
