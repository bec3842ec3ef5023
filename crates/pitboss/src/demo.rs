//! `pitboss demo` (being written).
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}
pub async fn run(_config: Option<&std::path::Path>, _args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
