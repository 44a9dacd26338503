//! `ilpt`: the ILP Torrent command-line tool. See `ilpt --help`.

fn main() -> std::process::ExitCode {
    ilpt_node::cli::main()
}
