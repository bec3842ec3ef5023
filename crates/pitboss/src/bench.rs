//! `pitboss bench` (being written).
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    Ingest,
}
pub async fn run(_config: Option<&std::path::Path>, _what: BenchCommand) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
