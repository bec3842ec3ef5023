//! `pitboss simulate` (being written).
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    #[arg(long)]
    pub url: String,
}
pub async fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
