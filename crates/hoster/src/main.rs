use hoster::cli::{self, Command};
use hoster::server::{Application, shutdown_signal};

#[tokio::main]
async fn main() {
    let cli = cli::parse();
    match cli.command {
        Command::Serve(config) => {
            cli::init_logging(config.log_format);
            let result = async {
                Application::build(&config)
                    .await?
                    .run_until_stopped(shutdown_signal())
                    .await
            }
            .await;
            if let Err(e) = result {
                eprintln!("error: {}", cli::error_chain(&e));
                std::process::exit(1);
            }
        }
        Command::Doctor(config) => {
            let findings = hoster::doctor::run(&config).await;
            if !hoster::doctor::print(&findings) {
                std::process::exit(1);
            }
        }
        Command::Template(args) => match cli::template(args).await {
            Ok(true) => {}
            Ok(false) => std::process::exit(1),
            Err(e) => {
                eprintln!("error: {}", cli::error_chain(&e));
                std::process::exit(1);
            }
        },
        Command::Backup(args) => {
            if let Err(e) = cli::backup(args).await {
                eprintln!("error: {}", cli::error_chain(&e));
                std::process::exit(1);
            }
        }
        Command::Restore(args) => {
            if let Err(e) = cli::restore(args).await {
                eprintln!("error: {}", cli::error_chain(&e));
                std::process::exit(1);
            }
        }
        Command::Token(args) => {
            if let Err(e) = cli::token(args).await {
                eprintln!("error: {}", cli::error_chain(&e));
                std::process::exit(1);
            }
        }
        client => {
            if let Some(Err(e)) = cli::client_command(&client).await {
                eprintln!("error: {}", cli::error_chain(&e));
                std::process::exit(1);
            }
        }
    }
}
